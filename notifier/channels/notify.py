"""Email, text messages and letters through GOV.UK Notify, with its errors mapped in one table.

Only this module imports ``notifications_python_client`` (GOV.UK's client): it signs each request
with the client's own ``create_jwt_token`` (HS256 with the key's secret, ``iss`` = the service id,
``iat`` = now) and speaks Notify's REST API (https://docs.notifications.service.gov.uk/rest-api.html)
over aiohttp. The client's own ``NotificationsAPIClient`` is synchronous (requests): running it in
threads would leave a send that times out still running, uncancellable, in its thread, and its
failure log line quotes Notify's message. Here the deadline and cancellation are asyncio's, one
bounded connection pool serves every council, and nothing of a request is logged.

Notify sends email and text only through templates held in Notify, so each council keeps one
pass-through template per channel (subject ``((subject))``, body ``((body))``; docs/notify.md) and
the text we rendered goes in as personalisation. Letters go as our own PDF, precompiled.
Every failure's text holds codes only: no address, number, message text or key.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from notifications_python_client.authentication import create_jwt_token

from notifier.errors import ConfigurationError, DeliveryFailure, PermanentFailure, TechnicalFailure
from notifier.letters.render import render_for_post
from notifier.messages import EmailMessage, LetterMessage, Message, SmsMessage, expect
from notifier.model import Receipt, Status
from notifier.recipients.mobile import InvalidMobile, normalise_uk_mobile
from notifier.settings import NotifySettings

PROVIDER = "notify"
# The tail of a Notify API key: "-<service id>-<secret>", each a UUID (36 characters).
_KEY = re.compile(r".+-(?P<service>[0-9a-f-]{36})-(?P<secret>[0-9a-f-]{36})", re.IGNORECASE)
# Where Notify's callbacks come in, below NOTIFIER_PUBLIC_URL (notifier.web.notify).
STATUS_CALLBACK_PATH = "/webhooks/notify/{council}/status"
INBOUND_CALLBACK_PATH = "/webhooks/notify/{council}/inbound"


@dataclasses.dataclass(frozen=True, slots=True)
class ApiKey:
    """A Notify API key split into the service id and the signing secret; never printed."""

    service_id: str = dataclasses.field(repr=False)
    secret: str = dataclasses.field(repr=False)

    @classmethod
    def parse(cls, key: str, council: str) -> ApiKey:
        match = _KEY.fullmatch(key.strip())
        if match is None or not all(_is_uuid(match[g]) for g in ("service", "secret")):
            raise ConfigurationError(
                f"NOTIFIER_NOTIFY_API_KEYS[{council}]: not a Notify API key "
                "(<key name>-<service id>-<secret>)"
            )
        return cls(service_id=match["service"], secret=match["secret"])

    def token(self) -> str:
        """A fresh JWT for one request (Notify refuses one more than 30 seconds old)."""
        token: str = create_jwt_token(self.secret, self.service_id)
        return token


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


@dataclasses.dataclass(frozen=True, slots=True)
class Account:
    """One council's Notify service: its key and the ids of what it set up there."""

    key: ApiKey
    email_template_id: str | None = None
    sms_template_id: str | None = None
    email_reply_to_id: str | None = None
    sms_sender_id: str | None = None


def accounts_from(notify: NotifySettings) -> dict[str, Account]:
    """Every council's Account, from ``NOTIFIER_NOTIFY_*``."""
    return {
        council: Account(
            key=ApiKey.parse(key.get_secret_value(), council),
            email_template_id=notify.email_template_ids.get(council),
            sms_template_id=notify.sms_template_ids.get(council),
            email_reply_to_id=notify.email_reply_to_ids.get(council),
            sms_sender_id=notify.sms_sender_ids.get(council),
        )
        for council, key in notify.api_keys.items()
    }


@dataclasses.dataclass(frozen=True, slots=True)
class _Outcome:
    kind: type[PermanentFailure] | type[TechnicalFailure]
    code: str
    retryable: bool = False
    until_midnight: bool = False


# The one table (Notify's API docs, "Error codes"): the key is the HTTP status, with Notify's error
# class for a 429 and "recipient" for a 400 that names the email address or phone number.
ERRORS: dict[str, _Outcome] = {
    "400-recipient": _Outcome(PermanentFailure, "notify-invalid-recipient"),
    # Template not found, personalisation missing, a team key's guest list, trial mode: ours.
    "400": _Outcome(TechnicalFailure, "notify-bad-request"),
    "403": _Outcome(TechnicalFailure, "notify-auth"),  # a bad key or a clock off by > 30 s
    "429-RateLimitError": _Outcome(TechnicalFailure, "notify-rate-limit", retryable=True),
    # The service's daily limit: not the resident's fault; worth trying after midnight UTC.
    "429-TooManyRequestsError": _Outcome(
        TechnicalFailure, "notify-daily-limit", retryable=True, until_midnight=True
    ),
    "429": _Outcome(TechnicalFailure, "notify-rate-limit", retryable=True),
    "5xx": _Outcome(TechnicalFailure, "notify-5xx", retryable=True),
    "4xx": _Outcome(TechnicalFailure, "notify-4xx"),
}
TIMEOUT = _Outcome(TechnicalFailure, "timeout", retryable=True)
NETWORK = _Outcome(TechnicalFailure, "network-error", retryable=True)
# A 2xx whose body cannot be read: the message may well have gone, so no retry.
UNREADABLE = _Outcome(TechnicalFailure, "invalid-response")
# Fields a 400's message starts with when the recipient, not our set-up, is what is wrong.
_RECIPIENT_FIELDS = ("phone_number", "email_address", "Not a UK mobile", "Not a valid")


def error_key(status: int, errors: list[dict[str, Any]]) -> str:
    """The ERRORS row for an error response: HTTP ``status`` and Notify's ``errors`` list."""
    if status == 400:
        messages = [str(e.get("message", "")) for e in errors]
        if any(m.startswith(_RECIPIENT_FIELDS) for m in messages):
            return "400-recipient"
        return "400"
    if status == 429:
        names = {str(e.get("error", "")) for e in errors}
        for name in ("TooManyRequestsError", "RateLimitError"):
            if name in names:
                return f"429-{name}"
        return "429"
    if str(status) in ERRORS:
        return str(status)
    return "5xx" if status >= 500 else "4xx"


def failure_for(
    status: int,
    errors: list[dict[str, Any]],
    *,
    now: datetime | None = None,
) -> DeliveryFailure:
    """The DeliveryFailure for one Notify error response; its text holds the HTTP status and
    Notify's error class only (Notify's messages may quote what was sent)."""
    outcome = ERRORS[error_key(status, errors)]
    names = ",".join(sorted({str(e.get("error", "")) for e in errors} - {""}))
    return _failure(outcome, f"HTTP {status} {names}".strip(), now=now)


def _failure(outcome: _Outcome, detail: str, *, now: datetime | None = None) -> DeliveryFailure:
    if outcome.kind is PermanentFailure:
        return PermanentFailure(outcome.code, detail)
    wait = seconds_to_midnight(now or datetime.now(UTC)) if outcome.until_midnight else None
    return TechnicalFailure(outcome.code, detail, retryable=outcome.retryable, retry_after=wait)


def seconds_to_midnight(now: datetime) -> float:
    """Seconds from ``now`` to a minute past the next midnight UTC (Notify's daily counters
    reset at midnight UTC)."""
    now = now.astimezone(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    return (midnight - now).total_seconds() + 60


_UNDERLINE = re.compile(r"^(=+|-+)$")


def notify_markdown(text: str) -> str:
    """Our plain text (headings underlined with ``=`` or ``-``, ``•`` bullets, ``1.`` lists,
    plain URLs) as the formatting Notify renders in email: ``#`` and ``##`` headings, ``*``
    bullets; numbered lists and plain URLs (which Notify makes links) pass unchanged."""
    lines = text.split("\n")
    out: list[str] = []
    for i, line in enumerate(lines):
        underline = lines[i + 1] if i + 1 < len(lines) else ""
        if _UNDERLINE.match(line) and out and out[-1].startswith("#"):
            continue  # the underline of the heading just written
        if line.strip() and len(underline) >= 3 and _UNDERLINE.match(underline):
            out.append(("# " if underline[0] == "=" else "## ") + line)
        elif line.startswith("\u2022 "):
            out.append("* " + line[2:])
        else:
            out.append(line)
    return "\n".join(out)


POSTAGE = {"first": "first", "second": "second", "economy": "economy"}


class NotifyClient:
    """Notify's REST API for every council, over one bounded pool of connections."""

    def __init__(
        self,
        accounts: Mapping[str, Account],
        *,
        base_url: str,
        timeout: float = 10.0,
        pool_size: int = 20,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise ConfigurationError("NOTIFIER_NOTIFY_BASE_URL: must be an absolute http(s) URL")
        self.accounts = dict(accounts)
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._pool_size = pool_size
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, notify: NotifySettings) -> NotifyClient:
        return cls(
            accounts_from(notify),
            base_url=notify.base_url,
            timeout=notify.timeout,
            pool_size=notify.pool_size,
        )

    def account(self, council: str) -> Account:
        """The council's Account; a non-retryable TechnicalFailure when it has none."""
        found = self.accounts.get(council)
        if found is None:
            raise TechnicalFailure("notify-no-account", f"council {council}", retryable=False)
        return found

    async def post(self, council: str, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST ``payload`` as JSON for ``council``; the 201 body, or a DeliveryFailure."""
        return await self._request(council, "POST", path, json=payload)

    async def get(self, council: str, path: str, params: dict[str, str]) -> dict[str, Any]:
        """GET ``path`` for ``council``; the body, or a DeliveryFailure."""
        return await self._request(council, "GET", path, params=params)

    async def by_reference(self, council: str, reference: str) -> list[dict[str, Any]]:
        """The council's notifications with ``reference`` (ours: the notification id)."""
        body = await self.get(council, "/v2/notifications", {"reference": reference})
        found = body.get("notifications")
        return [n for n in found if isinstance(n, dict)] if isinstance(found, list) else []

    async def _request(self, council: str, method: str, path: str, **kw: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.account(council).key.token()}"}
        try:
            async with asyncio.timeout(self._timeout):
                async with self._http().request(
                    method, self._base_url + path, headers=headers, **kw
                ) as response:
                    status = response.status
                    body = await _json(response)
        except TimeoutError:
            raise _failure(TIMEOUT, f"no response in {self._timeout}s") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise _failure(NETWORK, type(exc).__name__) from None
        if status >= 400:
            errors = body.get("errors") if isinstance(body, dict) else None
            listed = [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
            raise failure_for(status, listed, now=self._clock())
        if not isinstance(body, dict):
            raise _failure(UNREADABLE, f"HTTP {status} body is not a JSON object")
        return body

    def _http(self) -> aiohttp.ClientSession:
        # Built on first use: aiohttp's session must be created inside the running event loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size)
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _json(response: aiohttp.ClientResponse) -> Any:
    try:
        return await response.json(content_type=None)
    except ValueError:
        return None


# The one table: Notify's status (email, text, letter) -> our status and the reason recorded.
STATUSES: dict[str, tuple[Status, str | None]] = {
    "created": (Status.SENDING, "notify-created"),
    "sending": (Status.SENDING, "notify-sending"),
    "pending": (Status.SENDING, "notify-pending"),
    "accepted": (Status.SENDING, "notify-accepted"),
    "pending-virus-check": (Status.SENDING, "notify-pending-virus-check"),
    "sent": (Status.SENT, "notify-sent"),  # international text: no receipt will follow
    "delivered": (Status.DELIVERED, None),
    "permanent-failure": (Status.PERMANENT_FAILURE, "notify-permanent-failure"),
    "temporary-failure": (Status.TEMPORARY_FAILURE, "notify-temporary-failure"),
    "technical-failure": (Status.TECHNICAL_FAILURE, "notify-technical-failure"),
    "received": (Status.POSTED, None),  # a letter Notify's printer has posted
    "returned-letter": (Status.RETURNED, "notify-returned-letter"),
    "validation-failed": (Status.PERMANENT_FAILURE, "notify-validation-failed"),
    "virus-scan-failed": (Status.PERMANENT_FAILURE, "notify-virus-scan-failed"),
    "cancelled": (Status.TECHNICAL_FAILURE, "notify-cancelled"),
}


class _Reconciles:
    """Asks Notify what became of an earlier send of a message, by its reference (our
    notification id): a replay adopts Notify's copy instead of sending again."""

    client: NotifyClient

    async def find(self, message: Message, since: datetime) -> Receipt | None:
        """Notify's copy of ``message`` as a Receipt, or None when Notify has none (``since``
        is not needed: the reference names this notification alone)."""
        reports = await self.client.by_reference(message.council.code, message.notification_id)
        for report in reports:
            mapped = STATUSES.get(str(report.get("status", "")))
            if mapped is not None and report.get("id"):
                status, reason = mapped
                return Receipt(status, provider_ref=str(report["id"]), reason=reason)
        return None


class NotifyEmailChannel(_Reconciles):
    """Email through the council's pass-through template; a Receipt in ``sending`` with Notify's
    notification id (Notify's receipt says delivered or failed later)."""

    name = "email"
    provider = PROVIDER

    def __init__(self, client: NotifyClient) -> None:
        self.client = client

    async def send(self, message: Message) -> Receipt:
        message = expect(message, EmailMessage)
        account = self.client.account(message.council.code)
        payload: dict[str, Any] = {
            "email_address": message.to,
            "template_id": account.email_template_id,
            "personalisation": {
                "subject": message.subject,
                "body": notify_markdown(message.text),
            },
            "reference": message.notification_id,
        }
        if account.email_reply_to_id:
            payload["email_reply_to_id"] = account.email_reply_to_id
        if message.unsubscribe_url:
            payload["one_click_unsubscribe_url"] = message.unsubscribe_url
        body = await self.client.post(message.council.code, "/v2/notifications/email", payload)
        return Receipt(Status.SENDING, provider_ref=_id(body), content=_posted(payload))

    async def aclose(self) -> None:
        await self.client.aclose()


class NotifySmsChannel(_Reconciles):
    """Text messages through the council's pass-through template and its sender id."""

    name = "sms"
    provider = PROVIDER

    def __init__(self, client: NotifyClient, *, allow_fiction_range: bool = False) -> None:
        self.client = client
        self._allow_fiction_range = allow_fiction_range

    async def send(self, message: Message) -> Receipt:
        message = expect(message, SmsMessage)
        try:
            to = normalise_uk_mobile(message.to, allow_fiction_range=self._allow_fiction_range)
        except InvalidMobile as exc:
            raise PermanentFailure("invalid-mobile", exc.code) from None
        account = self.client.account(message.council.code)
        payload: dict[str, Any] = {
            "phone_number": to,
            "template_id": account.sms_template_id,
            "personalisation": {"body": message.body},
            "reference": message.notification_id,
        }
        if account.sms_sender_id:
            payload["sms_sender_id"] = account.sms_sender_id
        body = await self.client.post(message.council.code, "/v2/notifications/sms", payload)
        return Receipt(
            Status.SENDING,
            provider_ref=_id(body),
            fragments=message.fragments,
            content=_posted(payload),
        )

    async def aclose(self) -> None:
        await self.client.aclose()


class NotifyLetterChannel(_Reconciles):
    """Letters as our own PDF, precompiled (its address block sits where Notify's letter spec
    wants it: docs/notify.md); ``sending`` once Notify has it, ``posted`` when it says received."""

    name = "letter"
    provider = PROVIDER

    def __init__(self, client: NotifyClient) -> None:
        self.client = client

    async def send(self, message: Message) -> Receipt:
        message = expect(message, LetterMessage)
        self.client.account(message.council.code)
        letter = render_for_post(message)  # PermanentFailure for an address it cannot print
        payload = {
            "reference": message.notification_id,
            "content": base64.b64encode(letter.pdf).decode("ascii"),
            "postage": POSTAGE.get(message.postage, "second"),
        }
        body = await self.client.post(message.council.code, "/v2/notifications/letter", payload)
        return Receipt(Status.SENDING, provider_ref=_id(body), content=letter.pdf)

    async def aclose(self) -> None:
        await self.client.aclose()


def _id(body: dict[str, Any]) -> str:
    found = body.get("id")
    if not isinstance(found, str):
        raise _failure(UNREADABLE, "201 without a notification id")
    return found


def _posted(payload: dict[str, Any]) -> bytes:
    """The request body as posted (Notify renders the email or text from it): the evidence of
    what was handed over."""
    return json.dumps(payload, sort_keys=True).encode()
