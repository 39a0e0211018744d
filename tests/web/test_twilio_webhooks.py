"""Twilio's webhooks in-process (httpx over ASGI) against a real store on SQLite and PostgreSQL:
signatures, the status mapping table, out-of-order receipts, STOP/START replies and no PII."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
import structlog
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import FormData, UploadFile
from twilio.request_validator import RequestValidator

from notifier.channels.twilio import (
    CALLBACKS,
    FAILED,
    STATUS_CALLBACK_PATH,
    TwilioChannel,
    signature_is_valid,
)
from notifier.councils import load_councils
from notifier.http import create_app
from notifier.lifecycle import Lifecycle
from notifier.messages import SmsMessage
from notifier.metrics import REGISTRY, exposition
from notifier.model import Channel, Status
from notifier.preferences.model import Preferences
from notifier.preferences.store import PreferenceStore
from notifier.settings import load_settings
from notifier.store.notifications import NewNotification, Notification, NotificationStore
from notifier.web.twilio import (
    EMPTY_TWIML,
    INBOUND_PATH,
    OPT_IN_KEYWORDS,
    OPT_OUT_KEYWORDS,
    SOURCE,
    twilio_router,
)
from tests.fakes.channels import RecordingSink
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.metrics import counted

PUBLIC = "https://notify.example.org"
STATUS_URL = PUBLIC + STATUS_CALLBACK_PATH
INBOUND_URL = PUBLIC + INBOUND_PATH
AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
MOBILE = "+447700900123"


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, params))


def callback_params(sid: str, status: str, error_code: int | str | None = None) -> dict[str, str]:
    """What Twilio posts to a StatusCallback (sms.md §10)."""
    params = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "From": "StratfordDC",
        "MessageSid": sid,
        "MessageStatus": status,
        "SmsSid": sid,
        "SmsStatus": status,
        "To": MOBILE,
    }
    if error_code is not None:
        params["ErrorCode"] = str(error_code)
    return params


def inbound_params(body: str, sender: str = MOBILE) -> dict[str, str]:
    """What Twilio posts to a number's messaging webhook for a reply."""
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "Body": body,
        "From": sender,
        "MessageSid": "SM" + uuid.uuid4().hex,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "To": "+447700900001",
    }


class Rig:
    """The router on a bare app, the stores it writes and the outcomes it published."""

    def __init__(self, engine: AsyncEngine, client: httpx.AsyncClient, sink: RecordingSink):
        self.notifications = NotificationStore(engine)
        self.preferences = PreferenceStore(engine)
        self.client = client
        self.sink = sink

    async def sending(self, sid: str | None = None) -> Notification:
        """An SMS notification Twilio accepted (status ``sending``, the SID as provider ref)."""
        row = await self.notifications.create(
            NewNotification(
                event_source="/councils/sdc/planning",
                event_id=str(uuid.uuid4()),
                event_type="planning.application.received",
                council="sdc",
                channel="sms",
                customer_id="SDC-000123",
                case_reference="24/01234/FUL",
                recipient=MOBILE,
            )
        )
        assert row is not None
        sid = sid or "SM" + uuid.uuid4().hex
        await self.notifications.record(row.id, Status.SENDING, source="sms", provider_ref=sid)
        stored = await self.notifications.get(row.id)
        assert stored is not None
        return stored

    async def status(
        self,
        sid: str,
        status: str,
        error_code: int | str | None = None,
        *,
        signature: str | None = "sign",
    ) -> httpx.Response:
        params = callback_params(sid, status, error_code)
        headers = (
            {}
            if signature is None
            else {
                "X-Twilio-Signature": sign(STATUS_URL, params) if signature == "sign" else signature
            }
        )
        return await self.client.post(STATUS_CALLBACK_PATH, data=params, headers=headers)

    async def reply(
        self, body: str, sender: str = MOBILE, *, signed: bool = True
    ) -> httpx.Response:
        params = inbound_params(body, sender)
        signature = sign(INBOUND_URL, params) if signed else sign(INBOUND_URL, params, "wrong")
        return await self.client.post(
            INBOUND_PATH, data=params, headers={"X-Twilio-Signature": signature}
        )

    async def customer(self, mobile: str = MOBILE, *, opted_out: bool = False) -> None:
        await self.preferences.put(
            Preferences(
                council="sdc",
                customer_id="SDC-000123",
                email="alex@example.org",
                mobile=mobile,
                channel_order=(Channel.SMS, Channel.EMAIL),
                sms_opted_out=opted_out,
            ),
            actor="test",
        )

    async def opted_out(self) -> bool:
        stored = await self.preferences.get("sdc", "SDC-000123")
        assert stored is not None
        return stored.sms_opted_out

    def outcomes(self) -> list[tuple[str, dict[str, object]]]:
        return [(key, json.loads(body)) for key, body in self.sink.published]


@pytest.fixture
async def rig(engine: AsyncEngine) -> AsyncIterator[Rig]:
    sink = RecordingSink()
    notifications = NotificationStore(engine)
    router = twilio_router(
        auth_token=SecretStr(AUTH_TOKEN),
        public_base_url=PUBLIC + "/",
        lifecycle=Lifecycle(notifications, sink, clock=lambda: AT),
        preferences=PreferenceStore(engine),
        unknown_ref_delays=(),
    )
    app = create_app(routers=[router])
    # Served on another host than PUBLIC on purpose: signatures are checked against the public
    # URL Twilio was given, not whatever host and port this process sees behind a proxy.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.7:8080") as client:
        yield Rig(engine, client, sink)


# -- signatures ------------------------------------------------------------------------------


def hmac_sha1(token: str, url: str, params: list[tuple[str, str]]) -> str:
    """sms.md §11, written out: the URL, then each name+value by sorted name (a repeated name's
    values sorted, duplicates dropped), HMAC-SHA1 with the auth token, base64."""
    names = sorted({name for name, _ in params})
    data = url + "".join(
        name + value for name in names for value in sorted({v for n, v in params if n == name})
    )
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def form_data(params: list[tuple[str, str]]) -> FormData:
    """The parameters as the router sees a parsed form (repeated names kept)."""
    items: list[tuple[str, str | UploadFile]] = list(params)
    return FormData(items)


DOCS_PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+12349013030"),
    ("Digits", "1234"),
    ("From", "+12349013030"),
    ("To", "+18005551212"),
]
VECTORS = [
    ("docs example", "12345", "https://mycompany.com/myapp.php?foo=1&bar=2", DOCS_PARAMS),
    (
        "status callback",
        AUTH_TOKEN,
        STATUS_URL,
        list(callback_params("SM" + "ab" * 16, "undelivered", 30003).items()),
    ),
    ("no parameters", AUTH_TOKEN, STATUS_URL, []),
    (
        "repeated name, duplicate value",
        AUTH_TOKEN,
        INBOUND_URL,
        [("MediaUrl", "b"), ("MediaUrl", "a"), ("MediaUrl", "b"), ("Body", "STOP")],
    ),
    ("non-ASCII value", AUTH_TOKEN, INBOUND_URL, [("Body", "Diolch ŵ 😀"), ("From", MOBILE)]),
    (
        "explicit non-default port",
        AUTH_TOKEN,
        "http://127.0.0.1:8080/webhooks/twilio/status",
        [("MessageSid", "SM1"), ("MessageStatus", "sent")],
    ),
]


def test_docs_example_signature_is_twilios_published_value() -> None:
    """The independent HMAC gives the signature Twilio documents for its worked example."""
    assert hmac_sha1("12345", VECTORS[0][2], DOCS_PARAMS) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


@pytest.mark.parametrize(("name", "token", "url", "params"), VECTORS, ids=[v[0] for v in VECTORS])
def test_known_vectors_pass_twilio_and_our_check(
    name: str, token: str, url: str, params: list[tuple[str, str]]
) -> None:
    """A signature computed by hand per sms.md §11 is accepted by twilio's validator and by
    signature_is_valid; one changed value or another token is not."""
    expected = hmac_sha1(token, url, params)
    form = form_data(params)
    assert RequestValidator(token).validate(url, form, expected)
    assert signature_is_valid(token, url, form, expected)
    assert not signature_is_valid("another-token", url, form, expected)
    if params:
        tampered = form_data([(params[0][0], params[0][1] + "x"), *params[1:]])
        assert not signature_is_valid(token, url, tampered, expected)


@pytest.mark.parametrize(
    ("signed_for", "checked_against", "valid"),
    [
        ("https://h.example/p", "https://h.example:443/p", True),
        ("https://h.example:443/p", "https://h.example/p", True),
        ("http://h.example/p", "http://h.example:80/p", True),
        ("https://h.example:8443/p", "https://h.example:8443/p", True),
        # twilio's validate() strips any port and would accept these two; we do not.
        ("https://h.example/p", "https://h.example:8443/p", False),
        ("http://127.0.0.1/p", "http://127.0.0.1:8080/p", False),
        ("https://h.example/p", "https://h.example/p?x=1", False),
        ("https://h.example/p", "http://h.example/p", False),
    ],
)
def test_only_the_default_port_is_optional(
    signed_for: str, checked_against: str, valid: bool
) -> None:
    """A signature holds for the configured URL with or without the scheme's default port, and
    for no other port, path, query or scheme."""
    params = [("MessageSid", "SM1"), ("MessageStatus", "delivered")]
    signature = hmac_sha1(AUTH_TOKEN, signed_for, params)
    assert signature_is_valid(AUTH_TOKEN, checked_against, form_data(params), signature) is valid


async def test_callback_signed_by_hand_is_accepted(rig: Rig) -> None:
    """A callback signed with the independent HMAC over the public URL is processed."""
    row = await rig.sending()
    params = callback_params(str(row.provider_ref), "delivered")
    signature = hmac_sha1(AUTH_TOKEN, STATUS_URL, list(params.items()))
    response = await rig.client.post(
        STATUS_CALLBACK_PATH, data=params, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 204
    assert (await rig.notifications.get(row.id)).status is Status.DELIVERED  # type: ignore[union-attr]


# -- status callbacks ------------------------------------------------------------------------

FORGERIES = {
    "missing signature": None,
    "empty signature": "",
    "garbage": "not-a-signature",
    "another token": "token",
    "another URL": "url",
    "the public URL with the process's own host": "host",
    "signed over other values": "values",
}


@pytest.mark.parametrize("forgery", FORGERIES, ids=list(FORGERIES))
async def test_forged_status_callback_is_refused_and_changes_nothing(
    rig: Rig, forgery: str
) -> None:
    """Without a signature made with our token over our public URL and these very parameters
    the callback gets 403: no status change, no history entry, no outcome."""
    row = await rig.sending()
    before = await rig.notifications.history(row.id)
    params = callback_params(str(row.provider_ref), "delivered")
    kind = FORGERIES[forgery]
    if kind == "token":
        signature: str | None = sign(STATUS_URL, params, "another-token")
    elif kind == "url":
        signature = sign("https://attacker.example" + STATUS_CALLBACK_PATH, params)
    elif kind == "host":
        signature = sign("http://10.0.0.7:8080" + STATUS_CALLBACK_PATH, params)
    elif kind == "values":
        signature = sign(STATUS_URL, callback_params(str(row.provider_ref), "sent"))
    else:
        signature = kind
    response = await rig.status(str(row.provider_ref), "delivered", signature=signature)
    assert response.status_code == 403
    assert (await rig.notifications.get(row.id)).status is Status.SENDING  # type: ignore[union-attr]
    assert await rig.notifications.history(row.id) == before
    assert rig.sink.published == []


async def test_genuine_delivered_updates_the_record_and_publishes_the_outcome(rig: Rig) -> None:
    """A signed ``delivered`` moves the notification to delivered, adds a twilio-callback history
    entry and publishes notification.delivered without contact details."""
    row = await rig.sending()
    response = await rig.status(str(row.provider_ref), "delivered")
    assert response.status_code == 204
    stored = await rig.notifications.get(row.id)
    assert stored is not None and stored.status is Status.DELIVERED
    last = (await rig.notifications.history(row.id))[-1]
    assert (last.status, last.source, last.applied) == (Status.DELIVERED, SOURCE, True)
    [(key, event)] = rig.outcomes()
    assert key == "notification.delivered"
    assert event["type"] == "notification.delivered"
    data = event["data"]
    assert isinstance(data, dict)
    assert (data["notification_id"], data["status"], data["channel"]) == (
        row.id,
        "delivered",
        "sms",
    )
    assert data["updated_at"] == AT.isoformat()
    assert MOBILE not in json.dumps(event)


async def test_late_sent_after_delivered_is_kept_in_history_but_not_applied(rig: Rig) -> None:
    """Out of order: ``sent`` arriving after ``delivered`` leaves the notification delivered, the
    late report in the history as not applied, and publishes nothing more."""
    row = await rig.sending()
    sid = str(row.provider_ref)
    assert (await rig.status(sid, "delivered")).status_code == 204
    assert (await rig.status(sid, "sent")).status_code == 204
    stored = await rig.notifications.get(row.id)
    assert stored is not None and stored.status is Status.DELIVERED
    history = [
        (h.status, h.source, h.reason, h.applied) for h in await rig.notifications.history(row.id)
    ]
    assert history[-2:] == [
        (Status.DELIVERED, SOURCE, None, True),
        (Status.SENDING, SOURCE, "twilio-sent", False),
    ]
    assert [key for key, _ in rig.outcomes()] == ["notification.delivered"]


async def test_a_second_final_status_never_replaces_the_first(rig: Rig) -> None:
    """``undelivered`` after ``delivered`` (or the reverse) is recorded, not applied."""
    row = await rig.sending()
    sid = str(row.provider_ref)
    await rig.status(sid, "undelivered", 30003)
    await rig.status(sid, "delivered")
    stored = await rig.notifications.get(row.id)
    assert stored is not None
    assert (stored.status, stored.reason) == (Status.TEMPORARY_FAILURE, "twilio-30003")
    assert [h.applied for h in await rig.notifications.history(row.id)][-2:] == [True, False]
    assert [key for key, _ in rig.outcomes()] == ["notification.temporary-failure"]


# (MessageStatus, ErrorCode) -> (our status, reason recorded); every row of CALLBACKS plus the
# fall-throughs. Starting from ``sending``.
MAPPING_ROWS = [
    ("accepted", None, Status.SENDING, "twilio-accepted"),
    ("scheduled", None, Status.SENDING, "twilio-scheduled"),
    ("queued", None, Status.SENDING, "twilio-queued"),
    ("sending", None, Status.SENDING, "twilio-sending"),
    ("sent", None, Status.SENDING, "twilio-sent"),
    ("delivered", None, Status.DELIVERED, None),
    ("canceled", None, Status.TECHNICAL_FAILURE, "twilio-canceled"),
    ("undelivered", 30002, Status.TECHNICAL_FAILURE, "twilio-30002"),
    ("undelivered", 30003, Status.TEMPORARY_FAILURE, "twilio-30003"),
    ("failed", 30003, Status.TEMPORARY_FAILURE, "twilio-30003"),
    ("undelivered", 30004, Status.PERMANENT_FAILURE, "twilio-30004"),
    ("undelivered", 30005, Status.PERMANENT_FAILURE, "twilio-30005"),
    ("undelivered", 30006, Status.PERMANENT_FAILURE, "twilio-30006"),
    ("undelivered", 30007, Status.PERMANENT_FAILURE, "twilio-30007"),
    ("undelivered", 30008, Status.TEMPORARY_FAILURE, "twilio-30008"),
    ("failed", 21610, Status.PERMANENT_FAILURE, "opted-out"),
    # Codes not in the table, and failures without a code, are technical failures.
    ("failed", 30001, Status.TECHNICAL_FAILURE, "twilio-30001"),
    ("undelivered", 30036, Status.TECHNICAL_FAILURE, "twilio-30036"),
    ("failed", 21608, Status.TECHNICAL_FAILURE, "twilio-21608"),
    ("undelivered", None, Status.TECHNICAL_FAILURE, "twilio-undelivered"),
    ("failed", "", Status.TECHNICAL_FAILURE, "twilio-failed"),
    ("failed", "junk", Status.TECHNICAL_FAILURE, "twilio-failed"),
]


def test_mapping_rows_cover_the_whole_table() -> None:
    """Every entry of CALLBACKS has a row below, so the table and its tests cannot drift."""
    covered = {s for s, c, _, _ in MAPPING_ROWS if s not in FAILED} | {
        c for s, c, _, _ in MAPPING_ROWS if s in FAILED
    }
    assert set(CALLBACKS) <= covered


@pytest.mark.parametrize(
    ("twilio_status", "error_code", "expected", "reason"),
    MAPPING_ROWS,
    ids=[f"{s}-{c}" if c is not None else s for s, c, _, _ in MAPPING_ROWS],
)
async def test_status_and_error_code_map_to_our_status(
    rig: Rig, twilio_status: str, error_code: int | str | None, expected: Status, reason: str | None
) -> None:
    """Each MessageStatus/ErrorCode becomes the status of the table; the report is always in the
    history, and an outcome goes out and notifier_notifications_total counts it exactly when the
    status changed."""
    row = await rig.sending()
    before = counted("sms", expected)
    assert (await rig.status(str(row.provider_ref), twilio_status, error_code)).status_code == 204
    stored = await rig.notifications.get(row.id)
    assert stored is not None and stored.status is expected
    last = (await rig.notifications.history(row.id))[-1]
    changed = expected is not Status.SENDING
    assert (last.status, last.source, last.reason, last.applied) == (
        expected,
        SOURCE,
        reason,
        changed,
    )
    if changed:
        assert stored.reason == reason
        [(key, event)] = rig.outcomes()
        assert key == f"notification.{expected}"
        assert event["data"]["reason"] == reason  # type: ignore[index]
        assert counted("sms", expected) == before + 1
    else:
        assert rig.outcomes() == []
        assert counted("sms", expected) == before


@pytest.mark.parametrize("twilio_status", ["receiving", "received", "read", "brand-new-status"])
async def test_statuses_that_say_nothing_about_delivery_are_ignored(
    rig: Rig, twilio_status: str
) -> None:
    """Inbound, WhatsApp-only and unknown statuses are answered 204 and change nothing."""
    row = await rig.sending()
    before = await rig.notifications.history(row.id)
    assert (await rig.status(str(row.provider_ref), twilio_status)).status_code == 204
    assert await rig.notifications.history(row.id) == before
    assert rig.sink.published == []


async def test_unknown_message_sid_is_answered_and_only_logged(rig: Rig) -> None:
    """A genuine callback for a SID we never stored gets a 2xx (so Twilio does not retry in
    vain), changes nothing and leaves a log line naming the SID."""
    row = await rig.sending()
    with structlog.testing.capture_logs() as logs:
        response = await rig.status("SM" + "0" * 32, "delivered")
    assert response.status_code == 204
    assert (await rig.notifications.get(row.id)).status is Status.SENDING  # type: ignore[union-attr]
    assert rig.sink.published == []
    assert [(e["event"], e["message_sid"]) for e in logs] == [
        ("twilio.callback.unknown_ref", "SM" + "0" * 32)
    ]


async def test_receipt_that_overtakes_the_sid_write_is_retried(engine: AsyncEngine) -> None:
    """A callback whose SID is stored just after its first lookup is applied on the retry."""
    sid = "SM" + uuid.uuid4().hex

    class Racing(NotificationStore):
        """The worker's write of the SID lands right after the webhook's first lookup."""

        row_id = ""
        lookups = 0

        async def by_provider_ref(self, provider_ref: str) -> Notification | None:
            self.lookups += 1
            found = await super().by_provider_ref(provider_ref)
            if self.lookups == 1:
                await self.record(self.row_id, Status.SENDING, source="sms", provider_ref=sid)
            return found

    store = Racing(engine)
    row = await store.create(
        NewNotification(
            event_source="/s", event_id="e-1", event_type="x.y.z", council="sdc", channel="sms"
        )
    )
    assert row is not None
    store.row_id = row.id
    sink = RecordingSink()
    router = twilio_router(
        auth_token=SecretStr(AUTH_TOKEN),
        public_base_url=PUBLIC,
        lifecycle=Lifecycle(store, sink),
        preferences=PreferenceStore(engine),
        unknown_ref_delays=(0.0,),
    )
    transport = httpx.ASGITransport(app=create_app(routers=[router]))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
        params = callback_params(sid, "delivered")
        response = await client.post(
            STATUS_CALLBACK_PATH,
            data=params,
            headers={"X-Twilio-Signature": sign(STATUS_URL, params)},
        )
    assert response.status_code == 204
    assert store.lookups == 2
    assert (await store.get(row.id)).status is Status.DELIVERED  # type: ignore[union-attr]
    assert [key for key, _ in sink.published] == ["notification.delivered"]


async def test_opted_out_error_on_a_callback_opts_the_number_out(rig: Rig) -> None:
    """ErrorCode 21610 on a callback fails the notification as opted-out and records the
    resident's SMS opt-out, audited."""
    await rig.customer()
    row = await rig.sending()
    assert (await rig.status(str(row.provider_ref), "failed", 21610)).status_code == 204
    assert await rig.opted_out()
    last = (await rig.preferences.audit_trail("sdc", "SDC-000123"))[-1]
    assert (last.actor, last.fields) == ("twilio", ("sms_opted_out",))


async def test_other_failures_leave_the_opt_out_alone(rig: Rig) -> None:
    """Only 21610 touches preferences; an unreachable handset does not."""
    await rig.customer()
    row = await rig.sending()
    await rig.status(str(row.provider_ref), "undelivered", 30005)
    assert not await rig.opted_out()


# -- inbound replies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [*sorted(OPT_OUT_KEYWORDS), "stop", "Stop", "  STOP \n", "\tunsubscribe", "Quit"],
)
async def test_stop_family_reply_opts_the_number_out(rig: Rig, body: str) -> None:
    """A STOP-family keyword, alone in the message in any case, opts the sender's number out of
    SMS with an audit entry, and Twilio gets an empty TwiML reply."""
    await rig.customer()
    response = await rig.reply(body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text == EMPTY_TWIML
    assert await rig.opted_out()
    last = (await rig.preferences.audit_trail("sdc", "SDC-000123"))[-1]
    assert (last.actor, last.action, last.fields) == (
        "twilio-inbound",
        "update",
        ("sms_opted_out",),
    )


@pytest.mark.parametrize("body", [*sorted(OPT_IN_KEYWORDS), "start", " Yes ", "unstop"])
async def test_start_reply_opts_the_number_back_in(rig: Rig, body: str) -> None:
    """START, YES or UNSTOP clears an earlier opt-out, audited."""
    await rig.customer(opted_out=True)
    response = await rig.reply(body)
    assert response.status_code == 200 and response.text == EMPTY_TWIML
    assert not await rig.opted_out()
    assert (await rig.preferences.audit_trail("sdc", "SDC-000123"))[-1].actor == "twilio-inbound"


async def test_stop_from_a_differently_written_uk_number_still_matches(rig: Rig) -> None:
    """The sender is normalised to E.164 before matching the stored number."""
    await rig.customer()
    assert (await rig.reply("STOP", sender="+44 7700 900123")).status_code == 200
    assert await rig.opted_out()


@pytest.mark.parametrize(
    "body", ["STOP please", "please stop", "STOP STOP", "S T O P", "HELP", "INFO", "Thanks!", ""]
)
async def test_other_replies_change_nothing(rig: Rig, body: str) -> None:
    """Anything but a keyword alone (including HELP, which Twilio answers itself) is ignored."""
    await rig.customer()
    trail = await rig.preferences.audit_trail("sdc", "SDC-000123")
    response = await rig.reply(body)
    assert response.status_code == 200 and response.text == EMPTY_TWIML
    assert not await rig.opted_out()
    assert await rig.preferences.audit_trail("sdc", "SDC-000123") == trail


async def test_forged_stop_is_refused_and_changes_nothing(rig: Rig) -> None:
    """A STOP without a valid signature (or with none) gets 403 and opts nobody out."""
    await rig.customer()
    assert (await rig.reply("STOP", signed=False)).status_code == 403
    params = inbound_params("STOP")
    assert (await rig.client.post(INBOUND_PATH, data=params)).status_code == 403
    status_signature = sign(STATUS_URL, params)  # valid, but for the other webhook's URL
    response = await rig.client.post(
        INBOUND_PATH, data=params, headers={"X-Twilio-Signature": status_signature}
    )
    assert response.status_code == 403
    assert not await rig.opted_out()


# -- personal data ---------------------------------------------------------------------------

DISTINCTIVE = "+447700900987"
DISTINCTIVE_BODY = "STOP"


async def test_no_number_or_body_reaches_any_log_or_output(
    rig: Rig, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """A distinctive number (and a distinctive ignored reply) appear in no log event, log record
    or output, through signed and forged callbacks and replies."""
    caplog.set_level(logging.DEBUG)
    # aiosqlite's own DEBUG tracing prints every SQL parameter, numbers included, whoever writes
    # them (this test's set-up too); the service keeps stdlib logging at WARNING (notifier.logs).
    caplog.set_level(logging.INFO, logger="aiosqlite")
    await rig.customer(mobile=DISTINCTIVE)
    row = await rig.sending()
    sid = str(row.provider_ref)
    with structlog.testing.capture_logs() as events:
        params = callback_params(sid, "failed", 21610) | {"To": DISTINCTIVE}
        await rig.client.post(
            STATUS_CALLBACK_PATH,
            data=params,
            headers={"X-Twilio-Signature": sign(STATUS_URL, params)},
        )
        await rig.client.post(
            STATUS_CALLBACK_PATH, data=params, headers={"X-Twilio-Signature": "forged"}
        )
        await rig.reply(DISTINCTIVE_BODY, sender=DISTINCTIVE)
        await rig.reply("xyzzy-4242 call me on 07700 900987", sender=DISTINCTIVE)
        await rig.reply(DISTINCTIVE_BODY, sender=DISTINCTIVE, signed=False)
    assert await rig.opted_out()  # the paths really ran
    names = [e["event"] for e in events]
    assert "twilio.callback" in names and "twilio.webhook.forged" in names
    assert names.count("twilio.inbound") == 2
    output = capsys.readouterr()
    haystacks = [repr(events), caplog.text, output.out, output.err]
    for needle in ["900987", "7700 900", "xyzzy", "4242"]:
        for haystack in haystacks:
            assert needle not in haystack


# -- wiring ----------------------------------------------------------------------------------


async def test_default_callback_url_is_the_url_the_webhook_checks(engine: AsyncEngine) -> None:
    """Without NOTIFIER_PUBLIC_URL the channel still sets StatusCallback, to the default public
    base URL (http://127.0.0.1:$NOTIFIER_HTTP_PORT), and a callback signed for exactly that URL
    is accepted by the router built from the same settings."""
    async with FakeTwilio() as fake:
        settings = load_settings(
            sms_provider="twilio",
            twilio_account_sid=ACCOUNT_SID,
            twilio_auth_token=AUTH_TOKEN,
            twilio_base_url=fake.base_url,
            http_port=8123,
            sms_allow_fiction_range=True,
        )
        channel = TwilioChannel.from_settings(
            settings.sms, public_base_url=settings.http.public_base_url
        )
        try:
            receipt = await channel.send(
                SmsMessage("n-1", load_councils()["sdc"], "x.y.z", MOBILE, "Hello", 1)
            )
        finally:
            await channel.aclose()
    callback_url = fake.requests[0].form["StatusCallback"]
    assert callback_url == "http://127.0.0.1:8123" + STATUS_CALLBACK_PATH + "?notification=n-1"

    notifications = NotificationStore(engine)
    row = await notifications.create(
        NewNotification(
            event_source="/s", event_id="e-1", event_type="x.y.z", council="sdc", channel="sms"
        )
    )
    assert row is not None and receipt.provider_ref is not None
    await notifications.record(
        row.id, Status.SENDING, source="sms", provider_ref=receipt.provider_ref
    )
    assert settings.sms.auth_token is not None
    router = twilio_router(
        auth_token=settings.sms.auth_token,
        public_base_url=settings.http.public_base_url,
        lifecycle=Lifecycle(notifications, RecordingSink()),
        preferences=PreferenceStore(engine),
        unknown_ref_delays=(),
    )
    transport = httpx.ASGITransport(app=create_app(routers=[router]))
    params = callback_params(receipt.provider_ref, "delivered")
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8123") as client:
        response = await client.post(
            callback_url.removeprefix("http://127.0.0.1:8123"),
            data=params,
            headers={"X-Twilio-Signature": sign(callback_url, params)},
        )
    assert response.status_code == 204
    assert (await notifications.get(row.id)).status is Status.DELIVERED  # type: ignore[union-attr]


# -- callbacks naming the notification (a send whose receipt a crash kept from the store) ----


async def intent_only(rig: Rig) -> Notification:
    """An SMS notification whose send began (the intent) but whose SID was never recorded."""
    row = await rig.notifications.create(
        NewNotification(
            event_source="/councils/sdc/planning",
            event_id=str(uuid.uuid4()),
            event_type="planning.application.received",
            council="sdc",
            channel="sms",
            recipient=MOBILE,
        )
    )
    assert row is not None
    await rig.notifications.intend(row.id, source="sms")
    stored = await rig.notifications.get(row.id)
    assert stored is not None and stored.outcome_unknown
    return stored


async def named_callback(rig: Rig, notification_id: str, sid: str, status: str) -> int:
    query = f"?notification={notification_id}"
    params = callback_params(sid, status)
    response = await rig.client.post(
        STATUS_CALLBACK_PATH + query,
        data=params,
        headers={"X-Twilio-Signature": sign(STATUS_URL + query, params)},
    )
    return response.status_code


async def test_a_callback_naming_the_notification_settles_one_without_a_recorded_sid(
    rig: Rig,
) -> None:
    """The notification id in the StatusCallback URL finds a notification whose SID a crash
    kept from the store; the callback records the SID with the status."""
    row = await intent_only(rig)
    sid = "SM" + uuid.uuid4().hex
    assert await named_callback(rig, row.id, sid, "delivered") == 204
    stored = await rig.notifications.get(row.id)
    assert stored is not None
    assert (stored.status, stored.provider_ref) == (Status.DELIVERED, sid)


async def test_an_interim_callback_naming_the_notification_records_its_sid(rig: Rig) -> None:
    """A 'sent' callback for a notification known only by its intent records the SID, so the
    notification is no longer of unknown outcome (a replay will not reconcile or resend)."""
    row = await intent_only(rig)
    sid = "SM" + uuid.uuid4().hex
    assert await named_callback(rig, row.id, sid, "sent") == 204
    stored = await rig.notifications.get(row.id)
    assert stored is not None and stored.status is Status.SENDING
    assert stored.provider_ref == sid and not stored.outcome_unknown


async def test_the_query_string_is_part_of_what_is_signed(rig: Rig) -> None:
    """A signature made over the URL without its query does not pass for the URL with it."""
    row = await intent_only(rig)
    params = callback_params("SM" + uuid.uuid4().hex, "delivered")
    response = await rig.client.post(
        f"{STATUS_CALLBACK_PATH}?notification={row.id}",
        data=params,
        headers={"X-Twilio-Signature": sign(STATUS_URL, params)},
    )
    assert response.status_code == 403
    stored = await rig.notifications.get(row.id)
    assert stored is not None and stored.status is Status.SENDING


async def test_a_named_notification_holding_another_sid_is_left_alone(rig: Rig) -> None:
    """A callback whose SID differs from the one the named notification holds is matched by
    its SID only (here: unknown), so it cannot move the wrong notification."""
    row = await rig.sending()
    assert await named_callback(rig, row.id, "SM" + uuid.uuid4().hex, "undelivered") == 204
    stored = await rig.notifications.get(row.id)
    assert stored is not None and stored.status is Status.SENDING


def receipts(result: str) -> float:
    """``notifier_webhook_receipts_total`` for Twilio and one result, so far in this process."""
    value = REGISTRY.get_sample_value(
        "notifier_webhook_receipts_total", {"provider": "twilio", "result": result}
    )
    return value or 0.0


async def test_webhook_receipts_are_counted_by_result(rig: Rig) -> None:
    """An applied callback, a late one that changes nothing and a forged one are each counted
    once under their result, with no number or SID in the labels."""
    row = await rig.sending()
    sid = str(row.provider_ref)
    before = {r: receipts(r) for r in ("applied", "unchanged", "forged")}
    await rig.status(sid, "delivered")
    await rig.status(sid, "sent")
    await rig.status(sid, "delivered", signature="garbage")
    assert {r: receipts(r) - before[r] for r in before} == {
        "applied": 1,
        "unchanged": 1,
        "forged": 1,
    }
    assert sid not in exposition().decode()
