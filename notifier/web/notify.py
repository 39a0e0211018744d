"""GOV.UK Notify's callbacks: delivery receipts and received text messages (a resident's STOP).

Each council's Notify service is given its own URLs (``/webhooks/notify/<council>/status`` and
``.../inbound``) and its own bearer token (``NOTIFIER_NOTIFY_CALLBACK_TOKENS``), checked in constant
time before the body is read; anything else is refused with 403 and changes nothing. Receipts move
notifications through ``Lifecycle`` (forward-only, so a late or repeated receipt changes nothing).
Notify's callback documentation: https://docs.notifications.service.gov.uk/rest-api.html#callbacks.
No number, address or message text is ever logged.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

import structlog
from fastapi import APIRouter, Request, Response
from pydantic import SecretStr

from notifier.channels.notify import INBOUND_CALLBACK_PATH, STATUS_CALLBACK_PATH, STATUSES
from notifier.lifecycle import Lifecycle
from notifier.preferences.store import PreferenceStore
from notifier.web.replies import apply_reply

log = structlog.get_logger("notifier.web.notify")

SOURCE = "notify-callback"
INBOUND_ACTOR = "notify-inbound"


def bearer_matches(header: str | None, token: SecretStr | None) -> bool:
    """Whether ``Authorization: Bearer <token>`` carries ``token``, compared in constant time."""
    scheme, _, given = (header or "").partition(" ")
    expected = token.get_secret_value() if token is not None else ""
    # Compared even without a token configured, so a missing council takes as long as a bad token.
    same = hmac.compare_digest(given.strip().encode(), expected.encode())
    return scheme.lower() == "bearer" and token is not None and same


async def apply_report(
    lifecycle: Lifecycle, council: str, report: Mapping[str, Any], *, source: str = SOURCE
) -> bool | None:
    """Move the notification a Notify report (a receipt, or one found by polling) is about; True
    when it moved, False when the lifecycle kept it, None when it names none of ours."""
    mapped = STATUSES.get(str(report.get("status", "")))
    reference = str(report.get("reference") or "")
    if mapped is None or not reference:
        return None
    row = await lifecycle.notifications.get(reference)
    notify_id = str(report.get("id", ""))
    if row is None or row.council != council or row.provider_ref not in (None, notify_id):
        return None  # another service's, another council's, or an earlier provider's attempt
    status, reason = mapped
    return await lifecycle.move(row, status, source=source, reason=reason)


# A route factory: C901 counts its short nested handlers into it.
def notify_router(
    *,
    tokens: Mapping[str, SecretStr],
    lifecycle: Lifecycle,
    preferences: PreferenceStore,
) -> APIRouter:
    """The callback routes for every council with a token in ``tokens``."""
    router = APIRouter(include_in_schema=False)

    async def body_of(request: Request, council: str) -> dict[str, Any] | None:
        if not bearer_matches(request.headers.get("Authorization"), tokens.get(council)):
            log.warning("notify.callback.forged", council=council if council in tokens else None)
            return None
        try:
            body = await request.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    @router.post(STATUS_CALLBACK_PATH)
    async def status_callback(council: str, request: Request) -> Response:
        body = await body_of(request, council)
        if body is None:
            return Response(status_code=403)
        applied = await apply_report(lifecycle, council, body)
        log.info(
            "notify.callback",
            council=council,
            notification_id=str(body.get("reference") or "") or None,
            notify_status=str(body.get("status", "")),
            applied=applied,
        )
        return Response(status_code=204)

    @router.post(INBOUND_CALLBACK_PATH)
    async def inbound(council: str, request: Request) -> Response:
        body = await body_of(request, council)
        if body is None:
            return Response(status_code=403)
        action, customers = await apply_reply(
            preferences,
            str(body.get("message", "")),
            str(body.get("source_number", "")),
            actor=INBOUND_ACTOR,
        )
        log.info("notify.inbound", action=action, customers=customers)
        return Response(status_code=204)

    return router
