"""Twilio's webhooks: delivery receipts (status callbacks) and residents' replies (STOP, START).

Every request must carry an X-Twilio-Signature made with the account's auth token over the public
URL Twilio was given and every posted parameter; anything else is refused with 403 before a field
is trusted. Receipts move notifications forward only (the store applies the lifecycle rule, late
ones stay in the history); replies change the resident's SMS opt-out. No number or message text is
ever logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog
from fastapi import APIRouter, Request, Response
from pydantic import SecretStr
from starlette.datastructures import FormData

from notifier import metrics
from notifier.channels.twilio import (
    NOTIFICATION_PARAM,
    OPTED_OUT,
    STATUS_CALLBACK_PATH,
    callback_outcome,
    signature_is_valid,
)
from notifier.lifecycle import Lifecycle
from notifier.preferences.store import PreferenceStore
from notifier.store.notifications import Notification
from notifier.web.replies import (
    OPT_IN_KEYWORDS,
    OPT_OUT_KEYWORDS,
    apply_reply,
    keyword_opt_out,
    reply_number,
)

log = structlog.get_logger("notifier.web.twilio")

INBOUND_PATH = "/webhooks/twilio/inbound"
SOURCE = "twilio-callback"
INBOUND_ACTOR = "twilio-inbound"
SIGNATURE_HEADER = "X-Twilio-Signature"
# The reply keywords live in notifier.web.replies, shared with Notify's inbound texts.
__all__ = ["OPT_IN_KEYWORDS", "OPT_OUT_KEYWORDS", "keyword_opt_out", "twilio_router"]

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

# Unknown MessageSid. The only honest race is a receipt overtaking the worker's own
# write of the SID, which follows Twilio's 201 by milliseconds, so the lookup is retried in the
# request for about two seconds and then given up with a log line; Twilio's callback timeout is
# 15 s, so this still answers in time. A longer wait would not help: a SID still unknown after
# that belongs to another system on the account or to a lost record, for reconciliation by GET.
UNKNOWN_REF_DELAYS = (0.1, 0.3, 0.6, 1.0)


def received(result: str) -> None:
    """Count one webhook request in ``notifier_webhook_receipts_total`` (results: applied,
    unchanged, ignored, unknown-reference, forged, inbound-opt-out, inbound-opt-in,
    inbound-ignored)."""
    metrics.WEBHOOK_RECEIPTS.labels(provider="twilio", result=result).inc()


# A route factory: C901 counts its short nested handlers into it.
def twilio_router(  # noqa: C901
    *,
    auth_token: SecretStr,
    public_base_url: str,
    lifecycle: Lifecycle,
    preferences: PreferenceStore,
    unknown_ref_delays: Sequence[float] = UNKNOWN_REF_DELAYS,
) -> APIRouter:
    """The webhook routes, checking signatures against ``public_base_url`` + each path: the URL
    Twilio was told, not the one this process sees behind a proxy."""
    token = auth_token.get_secret_value()
    base = public_base_url.rstrip("/")
    router = APIRouter(include_in_schema=False)
    notifications = lifecycle.notifications

    async def signed_form(request: Request, path: str) -> FormData | None:
        form = await request.form()
        signature = request.headers.get(SIGNATURE_HEADER)
        # Twilio signs the URL it was given, query string included (Twilio's webhook security docs).
        url = base + path + (f"?{request.url.query}" if request.url.query else "")
        if signature and signature_is_valid(token, url, form, signature):
            return form
        log.warning("twilio.webhook.forged", path=path, signed=bool(signature))
        received("forged")
        return None

    async def find(sid: str, notification_id: str | None) -> Notification | None:
        """By the notification id the callback URL names, unless that notification holds
        another SID; else by SID, waiting briefly for the worker's record of it."""
        if notification_id:
            named = await notifications.get(notification_id)
            if named is not None and named.provider_ref in (None, sid):
                return named
        notification = await notifications.by_provider_ref(sid)
        for delay in unknown_ref_delays:
            if notification is not None:
                break
            await asyncio.sleep(delay)
            notification = await notifications.by_provider_ref(sid)
        return notification

    @router.post(STATUS_CALLBACK_PATH)
    async def status_callback(request: Request) -> Response:
        form = await signed_form(request, STATUS_CALLBACK_PATH)
        if form is None:
            return Response(status_code=403)
        sid, twilio_status = str(form.get("MessageSid", "")), str(form.get("MessageStatus", ""))
        error_code = str(form.get("ErrorCode", "")) or None
        bound = log.bind(message_sid=sid, twilio_status=twilio_status, error_code=error_code)
        mapped = callback_outcome(twilio_status, error_code)
        if not sid or mapped is None:
            bound.info("twilio.callback.ignored")
            received("ignored")
            return Response(status_code=204)
        notification = await find(sid, request.query_params.get(NOTIFICATION_PARAM))
        if notification is None:
            # Still a 2xx: Twilio retries a non-2xx callback (up to the URL's #rc= override) and
            # logs it as an error, and after the in-request retries above, a later redelivery
            # would not find the record either; see UNKNOWN_REF_DELAYS.
            bound.warning("twilio.callback.unknown_ref")
            received("unknown-reference")
            return Response(status_code=204)
        status, reason = mapped
        # The SID goes with it: a notification whose receipt a crash kept from the store (only
        # its intent was recorded) is settled by its first callback.
        applied = await lifecycle.move(
            notification, status, source=SOURCE, reason=reason, provider_ref=sid
        )
        received("applied" if applied else "unchanged")
        recipient = str(form.get("To", ""))
        if reason == OPTED_OUT and recipient:
            # Whatever this notification's status: Twilio now blocks the number, so the
            # preferences must say so (Twilio's Advanced Opt-Out docs).
            await preferences.opt_out_sms([reply_number(recipient)], opted_out=True, actor="twilio")
        bound.info(
            "twilio.callback", notification_id=notification.id, status=str(status), applied=applied
        )
        return Response(status_code=204)

    @router.post(INBOUND_PATH)
    async def inbound(request: Request) -> Response:
        form = await signed_form(request, INBOUND_PATH)
        if form is None:
            return Response(status_code=403)
        action, customers = await apply_reply(
            preferences, str(form.get("Body", "")), str(form.get("From", "")), actor=INBOUND_ACTOR
        )
        log.info("twilio.inbound", action=action, customers=customers)
        received(f"inbound-{action}")
        return Response(EMPTY_TWIML, media_type="text/xml")

    return router
