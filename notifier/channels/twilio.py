"""The SMS channel through Twilio's Messages API, with the provider's errors mapped in one table.

Only this module imports twilio. It normalises the recipient, waits for the throttle, posts one
Message and returns a Receipt, or raises a DeliveryFailure whose text holds codes only: Twilio's
error messages quote the recipient's number, so no vendor text or exception is passed on.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import json
import re
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from twilio.base.exceptions import (
    TwilioException,
    TwilioRestException,
    TwilioServiceException,
)
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from notifier.channels.throttle import TokenBucket
from notifier.errors import (
    ConfigurationError,
    DeliveryFailure,
    OptedOut,
    PermanentFailure,
    TechnicalFailure,
)
from notifier.messages import Message, SmsMessage, expect
from notifier.model import Receipt, Status
from notifier.recipients.mobile import (
    InvalidMobile,
    is_messaging_service_sid,
    normalise_uk_mobile,
    validate_sender_id,
)
from notifier.settings import SmsSettings

_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
OPTED_OUT = "opted-out"
# The SDK's keyword for each sender field -> its name in the form Twilio receives.
_FORM_NAMES = {"from_": "From", "messaging_service_sid": "MessagingServiceSid"}
# Where the web app receives Twilio's status callbacks, below NOTIFIER_PUBLIC_URL; the query
# parameter names the notification, so a callback settles one whose SID was never recorded.
STATUS_CALLBACK_PATH = "/webhooks/twilio/status"
NOTIFICATION_PARAM = "notification"
# Reconciling: how far before the recorded start of an attempt a message Twilio holds still
# counts as that attempt's (Twilio's date_created has whole seconds; the clocks may differ), and
# how many of the number's messages are looked at at most.
CLOCK_SKEW = timedelta(seconds=60)
MAX_LISTED = 1000


@dataclasses.dataclass(frozen=True, slots=True)
class _Outcome:
    kind: type[PermanentFailure] | type[TechnicalFailure]  # OptedOut is a PermanentFailure
    retryable: bool = False
    code: str | None = None  # defaults to "twilio-<code>" or "http-<status>"
    unknown: bool = False  # the POST may have reached Twilio: reconcile before a resend


# The one table (Twilio's error dictionary). Integer keys are Twilio error codes; string keys are
# the HTTP status fallbacks used when the code is not listed (twilio-python reports the HTTP status
# as the code when the error body has none). A retried POST after a 5xx or timeout may send twice:
# the API has no idempotency key.
ERRORS: dict[int | str, _Outcome] = {
    20003: _Outcome(TechnicalFailure),  # authentication failed: fix the credentials, alert
    20404: _Outcome(TechnicalFailure),  # resource not found: wrong account SID
    20429: _Outcome(TechnicalFailure, retryable=True),  # too many concurrent requests
    21211: _Outcome(PermanentFailure),  # invalid To number
    21212: _Outcome(TechnicalFailure),  # invalid From
    21401: _Outcome(TechnicalFailure),  # From not owned by the account
    21408: _Outcome(TechnicalFailure),  # geographic permission not enabled
    21602: _Outcome(PermanentFailure),  # body missing: a template bug
    21603: _Outcome(TechnicalFailure),  # neither From nor MessagingServiceSid
    21606: _Outcome(TechnicalFailure),  # From cannot send SMS
    21610: _Outcome(OptedOut, code=OPTED_OUT),  # replied STOP: suppress SMS for them
    21611: _Outcome(TechnicalFailure, retryable=True),  # sender queue full: slow down, retry
    21612: _Outcome(PermanentFailure),  # this sender cannot reach this number
    21614: _Outcome(PermanentFailure),  # To is not a mobile
    21617: _Outcome(PermanentFailure),  # body over 1,600 characters: a template bug
    21635: _Outcome(PermanentFailure),  # To is a landline
    "429": _Outcome(TechnicalFailure, retryable=True),
    "5xx": _Outcome(TechnicalFailure, retryable=True, unknown=True),
    "4xx": _Outcome(TechnicalFailure),
}
# The callbacks' table (Twilio's message status values; docs/events.md, Statuses): Twilio's report
# -> (our status, reason recorded), for status callbacks (web/twilio.py) and reconciliation alike. A
# string key is a MessageStatus that decides on its own; an integer key is the ErrorCode that
# decides an "undelivered" or "failed" callback. Twilio's interim statuses (including "sent":
# carrier accepted, no handset receipt yet) all stay "sending", which DESIGN's statuses reserve for
# exactly that; "canceled" has no status of its own in DESIGN, so it is a technical failure.
CALLBACKS: dict[str | int, tuple[Status, str | None]] = {
    "accepted": (Status.SENDING, "twilio-accepted"),
    "scheduled": (Status.SENDING, "twilio-scheduled"),
    "queued": (Status.SENDING, "twilio-queued"),
    "sending": (Status.SENDING, "twilio-sending"),
    "sent": (Status.SENDING, "twilio-sent"),
    "delivered": (Status.DELIVERED, None),
    "canceled": (Status.TECHNICAL_FAILURE, "twilio-canceled"),
    30002: (Status.TECHNICAL_FAILURE, "twilio-30002"),  # account suspended: alert
    30003: (Status.TEMPORARY_FAILURE, "twilio-30003"),  # handset off or out of signal
    30004: (Status.PERMANENT_FAILURE, "twilio-30004"),  # blocked by the recipient or carrier
    30005: (Status.PERMANENT_FAILURE, "twilio-30005"),  # unknown handset
    30006: (Status.PERMANENT_FAILURE, "twilio-30006"),  # landline or unreachable carrier
    30007: (Status.PERMANENT_FAILURE, "twilio-30007"),  # carrier filtered: fix content or sender
    30008: (Status.TEMPORARY_FAILURE, "twilio-30008"),  # unknown error
    21610: (Status.PERMANENT_FAILURE, OPTED_OUT),  # replied STOP: also opts the number out
}
# Statuses whose outcome the ErrorCode decides; a code not in CALLBACKS is a technical failure.
FAILED = frozenset({"undelivered", "failed"})


def callback_outcome(
    message_status: str, error_code: str | None
) -> tuple[Status, str | None] | None:
    """Our status and reason for one status callback; None when it says nothing about delivery
    (inbound, WhatsApp-only or unknown statuses)."""
    if message_status in FAILED:
        code = int(error_code) if error_code and error_code.isdigit() else None
        if code is None:
            return Status.TECHNICAL_FAILURE, f"twilio-{message_status}"
        status, reason = CALLBACKS.get(code, (Status.TECHNICAL_FAILURE, None))
        return status, reason or f"twilio-{code}"
    return CALLBACKS.get(message_status)


TIMEOUT = _Outcome(TechnicalFailure, retryable=True, code="timeout", unknown=True)
NETWORK = _Outcome(TechnicalFailure, retryable=True, code="network-error", unknown=True)
# A 2xx whose body cannot be read: the message may well have gone, so a retry could send it twice.
UNREADABLE = _Outcome(TechnicalFailure, code="invalid-response", unknown=True)


def failure_for(status: int, code: int | None) -> DeliveryFailure:
    """The DeliveryFailure for a Twilio error response (HTTP ``status``, Twilio ``code``)."""
    outcome = ERRORS.get(code) if code is not None else None
    if outcome is None:
        outcome = ERRORS.get(str(status)) or ERRORS["5xx" if status >= 500 else "4xx"]
    fallback = f"twilio-{code}" if code and code != status else f"http-{status}"
    return _failure(outcome, f"HTTP {status}", fallback)


def _failure(outcome: _Outcome, detail: str, fallback_code: str = "") -> DeliveryFailure:
    code = outcome.code or fallback_code
    if outcome.kind is TechnicalFailure:
        return TechnicalFailure(
            code, detail, retryable=outcome.retryable, outcome_unknown=outcome.unknown
        )
    return outcome.kind(code, detail)


@contextlib.asynccontextmanager
async def _call(seconds: float, answer: str) -> AsyncIterator[None]:
    """One call to Twilio under its deadline, every failure turned into a DeliveryFailure from
    the tables above (``answer``: what the call waits for, named in the detail).
    AsyncTwilioHttpClient passes a per-request timeout of None to aiohttp, which means "no
    timeout" whatever its constructor was told, so the deadline is enforced here."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except (TwilioRestException, TwilioServiceException) as exc:
        raise failure_for(exc.status, exc.code) from None
    except TwilioException as exc:  # a page the SDK could not read: ("...", response)
        response = exc.args[1] if len(exc.args) > 1 else None
        status = getattr(response, "status_code", 0)
        raise failure_for(status, None) if status else _failure(UNREADABLE, answer) from None
    except TimeoutError:
        raise _failure(TIMEOUT, f"no {answer} in {seconds}s") from None
    except (aiohttp.ClientError, OSError) as exc:
        raise _failure(NETWORK, type(exc).__name__) from None
    except ValueError:
        raise _failure(UNREADABLE, f"{answer} body is not JSON") from None


class TwilioChannel:
    """Sends SmsMessages through Twilio; a Receipt in ``sending`` with the Message SID, or a
    DeliveryFailure from ERRORS.

    ``sender`` is an alphanumeric sender id or a Messaging Service SID; when None, each message
    goes from its council's ``sms_sender``.
    """

    name = "sms"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        sender: str | None,
        base_url: str | None = None,
        status_callback_url: str | None = None,
        timeout: float = 10.0,
        throttle: TokenBucket | None = None,
        allow_fiction_range: bool = False,
    ) -> None:
        if not _ACCOUNT_SID.fullmatch(account_sid):
            raise ConfigurationError("NOTIFIER_TWILIO_ACCOUNT_SID: must be AC and 32 hex digits")
        if not auth_token:
            raise ConfigurationError("NOTIFIER_TWILIO_AUTH_TOKEN: must not be empty")
        if timeout <= 0:
            raise ConfigurationError("NOTIFIER_TWILIO_TIMEOUT: must be positive")
        if status_callback_url is not None and not status_callback_url.startswith(
            ("https://", "http://")
        ):
            raise ConfigurationError("status callback URL must be an absolute http(s) URL")
        self._sender = None if sender is None else _sender_fields(sender)
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._base_url = base_url.rstrip("/") if base_url else None
        self._status_callback_url = status_callback_url
        self._timeout = timeout
        self._throttle = throttle
        self._allow_fiction_range = allow_fiction_range
        self._client: Client | None = None
        self._http: AsyncTwilioHttpClient | None = None

    @classmethod
    def from_settings(cls, sms: SmsSettings, *, public_base_url: str) -> TwilioChannel:
        """The channel as configured by ``NOTIFIER_TWILIO_*`` (the SMS part); callbacks go to
        ``public_base_url`` (``HttpSettings.public_base_url``)."""
        token = sms.auth_token
        rate = sms.segments_per_second
        return cls(
            account_sid=sms.account_sid or "",
            auth_token=token.get_secret_value() if token else "",
            sender=sms.sender,
            base_url=sms.base_url,
            # The webhook checks signatures against this same URL, so both come from one place.
            status_callback_url=public_base_url + STATUS_CALLBACK_PATH,
            timeout=sms.timeout,
            throttle=TokenBucket(rate=rate, capacity=rate),
            allow_fiction_range=sms.allow_fiction_range,
        )

    @property
    def throttle(self) -> TokenBucket | None:
        """The token bucket sends wait on, if any."""
        return self._throttle

    async def send(self, message: Message) -> Receipt:
        """Post one text message to Twilio's Messages API."""
        message = expect(message, SmsMessage)
        try:
            to = normalise_uk_mobile(message.to, allow_fiction_range=self._allow_fiction_range)
        except InvalidMobile as exc:
            raise PermanentFailure("invalid-mobile", exc.code) from None
        sender = self._sender or _council_sender(message.council.sms_sender)
        fields: dict[str, Any] = {"to": to, "body": message.body, **sender}
        if self._status_callback_url:
            fields["status_callback"] = status_callback_for(
                self._status_callback_url, message.notification_id
            )
        if self._throttle is not None:
            await self._throttle.acquire(max(1, message.fragments))
        sid = await self._create(fields)
        posted = json.dumps(
            {"To": to, "Body": message.body, **{_FORM_NAMES[k]: v for k, v in sender.items()}}
        ).encode()
        return Receipt(
            status=Status.SENDING, provider_ref=sid, fragments=message.fragments, content=posted
        )

    async def find(self, message: Message, since: datetime) -> Receipt | None:
        """Twilio's copy of ``message``, if an earlier attempt's POST reached it: the oldest
        outbound Message to the same number (and from the same sender) with the same body,
        created no earlier than ``since`` less CLOCK_SKEW, with its SID and status (mapped by
        the callbacks' table); None when there is none. TechnicalFailure when Twilio cannot be
        asked now.

        The list is filtered by ``To`` (and ``From``) only, not by ``DateSent``: Twilio sets
        ``date_sent`` when it sends, so a Message still queued from the lost attempt would be
        missed by that filter and sent twice. Pages are read newest first up to MAX_LISTED."""
        message = expect(message, SmsMessage)
        try:
            to = normalise_uk_mobile(message.to, allow_fiction_range=self._allow_fiction_range)
        except InvalidMobile:
            return None  # never sent: the send itself will fail the same way
        sender = self._sender or _council_sender(message.council.sms_sender)
        filters: dict[str, Any] = {
            "to": to,
            **({"from_": sender["from_"]} if "from_" in sender else {}),
        }
        earliest = since - CLOCK_SKEW
        messages = self._twilio().api.v2010.account.messages
        candidates: list[Any] = []
        async with _call(self._timeout, "list"):
            stream = await messages.stream_async(**filters, limit=MAX_LISTED, page_size=100)
            async for listed in stream:
                if _is_copy(listed, message.body, earliest):
                    candidates.append(listed)
        if not candidates:
            return None
        found = min(candidates, key=lambda m: m.date_created)
        error = str(found.error_code) if found.error_code else None
        status, reason = callback_outcome(str(found.status), error) or (Status.SENDING, None)
        segments = int(found.num_segments) if str(found.num_segments or "").isdigit() else 0
        return Receipt(
            status=status,
            provider_ref=found.sid,
            fragments=segments or message.fragments,
            # A failure keeps its code (twilio-30003, ...); anything else says how it was found.
            reason=reason if status.is_failure and reason else "reconciled",
        )

    async def _create(self, fields: dict[str, Any]) -> str | None:
        """POST the Message and return its SID; every failure leaves as a DeliveryFailure."""
        messages = self._twilio().api.v2010.account.messages
        async with _call(self._timeout, "response"):
            created = await messages.create_async(**fields)
        sid: str | None = created.sid
        return sid

    def _twilio(self) -> Client:
        # Built on first use: aiohttp's session must be created inside the running event loop.
        # One client, so one aiohttp session and its pool of kept-alive connections, for every
        # message this channel sends.
        if self._client is None:
            self._http = _HttpClient()
            self._client = Client(
                self._account_sid,
                self._auth_token,
                http_client=self._http,
                # Only settings.py reads the environment; an empty mapping would make the SDK fall
                # back to os.environ, where TWILIO_EDGE/TWILIO_REGION would rewrite the host.
                environment={"TWILIO_EDGE": "", "TWILIO_REGION": ""},
            )
            if self._base_url:
                # The Api domain holds the base URL every Messages request is built from, so
                # replacing it redirects exactly this client (to a local fake or a proxy) without
                # subclassing the transport or rewriting URLs after the SDK has built them.
                self._client.api.base_url = self._base_url
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP session, if one was opened."""
        if self._http is not None:
            await self._http.close()
            self._http = None
            self._client = None


class _HttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """The SDK's aiohttp transport, minus what it does on every request that this channel does
    not need; the SDK still builds the URL, the credentials, the fields and the headers, and
    parses the answer and its errors.

    - The form goes to aiohttp already encoded, as aiohttp's ``FormData`` would encode it
      (``urlencode`` with ``doseq``, UTF-8; the SDK sets the ``application/x-www-form-urlencoded``
      type): handed a dict, aiohttp builds a ``FormData``, and with it a multipart writer and a
      random boundary, only to urlencode the fields.
    - The credentials go as an ``Authorization`` header (RFC 7617), as aiohttp asks, rather
      than as a ``BasicAuth`` through ``auth=`` (both deprecated since aiohttp 3.14).
    - The SDK's request and response log lines are not formatted: their text is built before
      the logger is asked whether anyone listens (and the list request's line quotes the
      number)."""

    async def request(
        self,
        method: str,
        url: str,
        *args: Any,
        data: Any = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        if isinstance(data, dict) and data:
            data = urlencode(data, doseq=True).encode()
        if auth is not None:
            headers = {**(headers or {}), "Authorization": aiohttp.encode_basic_auth(*auth)}
        return await super().request(method, url, *args, data=data, headers=headers, **kwargs)

    def log_request(self, kwargs: Any) -> None:
        pass

    def log_response(self, status_code: int, response: Any) -> None:
        pass


def status_callback_for(url: str, notification_id: str) -> str:
    """The StatusCallback URL for one message: ``url`` naming the notification in its query, so
    a callback can settle a notification whose SID a crash kept us from recording."""
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}{urlencode({NOTIFICATION_PARAM: notification_id})}"


def _is_copy(listed: Any, body: str, earliest: datetime) -> bool:
    """Whether a listed Message is an outbound copy of ``body`` created at or after
    ``earliest``."""
    created = listed.date_created
    return (
        str(listed.direction or "").startswith("outbound")
        and listed.body == body
        and created is not None
        and created >= earliest
    )


def _council_sender(sender: str) -> dict[str, str]:
    try:
        return {"from_": validate_sender_id(sender)}
    except ValueError as exc:
        raise TechnicalFailure("invalid-sender", str(exc), retryable=False) from None


def _sender_fields(sender: str) -> dict[str, str]:
    """The request fields naming the sender: a Messaging Service SID or an alphanumeric id."""
    if is_messaging_service_sid(sender):
        return {"messaging_service_sid": sender}
    try:
        return {"from_": validate_sender_id(sender)}
    except ValueError as exc:
        raise ConfigurationError(f"NOTIFIER_TWILIO_FROM: {exc}") from None


_DEFAULT_PORTS = {"http": 80, "https": 443}


def signature_is_valid(
    auth_token: str, url: str, params: Mapping[str, Any], signature: str
) -> bool:
    """Whether ``signature`` is the X-Twilio-Signature of a form POST of ``params`` to ``url``
    (Twilio's webhook security docs), accepting ``url`` with or without its scheme's default port.

    twilio's ``RequestValidator.validate`` strips *any* port, so a signature made for
    ``host/path`` would pass for ``host:8080/path``; only the default port is optional here.
    """
    validator = RequestValidator(auth_token)
    given = signature.encode()
    return any(
        hmac.compare_digest(str(validator.compute_signature(candidate, params)).encode(), given)
        for candidate in _with_and_without_default_port(url)
    )


def _with_and_without_default_port(url: str) -> list[str]:
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    if parts.port is None and default is not None:
        return [url, parts._replace(netloc=f"{parts.netloc}:{default}").geturl()]
    if parts.port is not None and parts.port == default:
        return [url, parts._replace(netloc=parts.netloc.rsplit(":", 1)[0]).geturl()]
    return [url]
