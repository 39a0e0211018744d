"""End to end by text message: the real ``notifier run`` process sending through the Twilio
channel to a local fake of Twilio's Messages API, with RabbitMQ, the SQLite store, the outbox for
the fallback channel and the status webhook on the service's own port."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from notifier.channels.twilio import STATUS_CALLBACK_PATH, TwilioChannel
from notifier.model import Channel, Status
from notifier.preferences.model import Preferences
from notifier.preferences.store import PreferenceStore
from notifier.settings import load_settings
from notifier.store import migrate
from notifier.store.database import create_engine
from notifier.store.notifications import Notification, NotificationStore
from notifier.templates.sms import fragment_count
from tests.events import make_event
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, RecordedRequest
from tests.service import ServiceProcess, bind_outcomes, drain, publish_raw

RATE = 10.0
# A short text (one GSM-7 fragment) so the burst below costs exactly one token per message;
# written here rather than taken from the shipped catalogue, which other work keeps changing.
TEMPLATE = '''+++
topic = "planning"
statutory = false
personalisation = ["application_address"]
subject = "We have your planning application {{ reference }}"
sms = """{{ council.name }}: we have your planning application {{ reference }}."""

[sample]
reference = "24/01234/FUL"
[sample.personalisation]
application_address = "10 High Street"
+++
# We have your planning application

Your reference is {{ reference }}. It is for {{ application_address }}.
'''


class TimedFakeTwilio(FakeTwilio):
    """The fake, noting when each Messages request arrived (monotonic seconds)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[float] = []

    async def _create(self, request: web.Request) -> web.Response:
        self.arrivals.append(time.monotonic())
        return await super()._create(request)


@pytest.fixture
async def fake() -> AsyncIterator[TimedFakeTwilio]:
    fake = TimedFakeTwilio()
    async with fake:
        yield fake


@pytest.fixture
def service(tmp_path: Path, amqp_url: str, fake: TimedFakeTwilio) -> Iterator[ServiceProcess]:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "planning.application.received.md").write_text(TEMPLATE, "utf-8")
    proc = ServiceProcess(
        tmp_path,
        amqp_url,
        NOTIFIER_SMS_PROVIDER="twilio",
        NOTIFIER_TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        NOTIFIER_TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        NOTIFIER_TWILIO_BASE_URL=fake.base_url,
        NOTIFIER_TWILIO_SEGMENTS_PER_SECOND=str(RATE),
        NOTIFIER_SMS_ALLOW_FICTION_RANGE="true",
        NOTIFIER_TEMPLATE_DIR=str(templates),
    )
    proc.env["NOTIFIER_PUBLIC_URL"] = f"http://127.0.0.1:{proc.port}"
    yield proc

    proc.stop()
    print(proc.logs())  # pytest shows it only when the test failed


def sms_first(customer_id: str, mobile: str) -> Preferences:
    """A customer who wants texts first, then email, at any hour."""
    return Preferences(
        council="sdc",
        customer_id=customer_id,
        name="Alex Smith",
        email=f"{customer_id.lower()}@example.org",
        mobile=mobile,
        channel_order=(Channel.SMS, Channel.EMAIL),
        quiet_hours=None,
    )


async def store_customers(service: ServiceProcess, *customers: Preferences) -> None:
    """Customers in the service's database before it starts (migrating it first)."""
    engine = create_engine(service.database_url)
    try:
        await migrate.upgrade(engine)
        store = PreferenceStore(engine)
        for customer in customers:
            await store.put(customer, actor="test")
    finally:
        await engine.dispose()


def event_for(customer: Preferences) -> dict[str, object]:
    # The event's own details differ from the stored ones: the stored customer must win.
    return make_event(
        recipient={"customer_id": customer.customer_id, "mobile": "07700 900999"},
        personalisation={"application_address": "10 High Street"},
    )


async def start(service: ServiceProcess, amqp_url: str) -> None:
    await bind_outcomes(amqp_url, "test.outcomes")
    service.start()
    await service.wait_ready()
    # /readyz can answer 200 once the broker connection is up but before the work queue is
    # declared and bound, and an event published then is dropped as unroutable; the worker logs
    # service.started only after both.
    await wait_for(lambda: '"service.started"' in service.logs(), 10, "service.started")


async def wait_for(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} not seen in {timeout}s")


async def wait_for_requests(fake: FakeTwilio, count: int, timeout: float = 10) -> None:
    await wait_for(lambda: len(fake.requests) >= count, timeout, f"{count} Twilio requests")


async def notifications_of(
    service: ServiceProcess, event: dict[str, object]
) -> dict[str, Notification]:
    engine = create_engine(service.database_url)
    try:
        rows = await NotificationStore(engine).for_event(str(event["source"]), str(event["id"]))
    finally:
        await engine.dispose()
    return {row.channel: row for row in rows}


async def wait_for_status(
    service: ServiceProcess, event: dict[str, object], channel: str, status: Status
) -> Notification:
    async def reached() -> Notification | None:
        row = (await notifications_of(service, event)).get(channel)
        # A "sending" that is only the intent (no receipt yet) has not reached ``status``.
        done = row is not None and row.status is status and not row.outcome_unknown
        return row if done else None

    found: Notification = await wait_for(reached, 10, f"{channel} {status}")
    return found


async def wait_for_files(folder: Path, count: int, timeout: float = 10) -> list[Path]:
    def found() -> list[Path]:
        files = sorted(folder.glob("*.eml")) if folder.exists() else []
        return files if len(files) >= count else []

    files: list[Path] = await wait_for(found, timeout, f"{count} files in {folder}")
    return files


async def test_sms_first_customer_gets_a_valid_messages_api_request(
    service: ServiceProcess, amqp_url: str, fake: TimedFakeTwilio
) -> None:
    """The worker posts one Messages request as Twilio expects it: the account's path, basic
    auth, the stored number in E.164, the council's sender, the text and our StatusCallback; the
    record moves to sending with the Message SID."""
    customer = sms_first("SDC-100001", "+447700900123")
    await store_customers(service, customer)
    await start(service, amqp_url)
    event = event_for(customer)
    await publish_raw(amqp_url, [event])
    await wait_for_requests(fake, 1)

    [request] = fake.requests
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.basic_auth == (ACCOUNT_SID, AUTH_TOKEN)
    assert request.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert request.form["To"] == "+447700900123"
    assert request.form["From"] == "StratfordDC"
    assert request.form["Body"] == (
        "Stratford-on-Avon District Council: we have your planning application 24/01234/FUL."
    )
    [sid] = fake.messages
    row = await wait_for_status(service, event, "sms", Status.SENDING)
    assert request.form["StatusCallback"] == (
        f"http://127.0.0.1:{service.port}{STATUS_CALLBACK_PATH}?notification={row.id}"
    )
    assert row.provider_ref == sid
    assert "email" not in await notifications_of(service, event)
    assert "900123" not in service.logs()


async def test_invalid_number_falls_back_to_email(
    service: ServiceProcess, amqp_url: str, fake: TimedFakeTwilio
) -> None:
    """Twilio answering 21211 (invalid To) fails the SMS permanently and the email goes."""
    customer = sms_first("SDC-100002", "+447700900222")
    fake.fail_for("+447700900222", status=400, code=21211)
    await store_customers(service, customer)
    await start(service, amqp_url)
    event = event_for(customer)
    await publish_raw(amqp_url, [event])

    [eml] = await wait_for_files(service.outbox / "email", 1)
    rows = await notifications_of(service, event)
    assert (rows["sms"].status, rows["sms"].reason) == (Status.PERMANENT_FAILURE, "twilio-21211")
    assert eml.name == f"{rows['email'].id}.eml"
    assert len(fake.requests) == 1
    assert "900222" not in service.logs()


async def test_opted_out_number_is_recorded_and_falls_back_to_email(
    service: ServiceProcess, amqp_url: str, fake: TimedFakeTwilio
) -> None:
    """Twilio answering 21610 (the resident replied STOP) records their SMS opt-out, fails the
    SMS as opted-out and sends the email instead; the next event goes straight to email."""
    customer = sms_first("SDC-100003", "+447700900333")
    fake.fail_for("+447700900333", status=400, code=21610)
    await store_customers(service, customer)
    await start(service, amqp_url)
    event = event_for(customer)
    await publish_raw(amqp_url, [event])

    await wait_for_files(service.outbox / "email", 1)
    rows = await notifications_of(service, event)
    assert (rows["sms"].status, rows["sms"].reason) == (Status.PERMANENT_FAILURE, "opted-out")
    engine = create_engine(service.database_url)
    try:
        store = PreferenceStore(engine)
        stored = await store.get("sdc", "SDC-100003")
        assert stored is not None and stored.sms_opted_out
        last = (await store.audit_trail("sdc", "SDC-100003"))[-1]
        assert (last.actor, last.fields) == ("twilio", ("sms_opted_out",))
    finally:
        await engine.dispose()

    second = event_for(customer)
    await publish_raw(amqp_url, [second])
    await wait_for_files(service.outbox / "email", 2)
    assert set(await notifications_of(service, second)) == {"email"}
    assert len(fake.requests) == 1  # no second attempt at a number that said STOP


async def test_signed_delivery_receipt_updates_the_record_and_publishes_the_outcome(
    service: ServiceProcess, amqp_url: str, fake: TimedFakeTwilio
) -> None:
    """A status callback the fake signs like Twilio, posted to the URL the channel gave Twilio,
    moves the record to delivered and publishes notification.delivered; forged ones get 403."""
    customer = sms_first("SDC-100004", "+447700900444")
    await store_customers(service, customer)
    await start(service, amqp_url)
    event = event_for(customer)
    await publish_raw(amqp_url, [event])
    await wait_for_requests(fake, 1)
    [sid] = fake.messages
    row = await wait_for_status(service, event, "sms", Status.SENDING)
    callback_url = fake.requests[0].form["StatusCallback"]

    forged = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30005"}
    async with httpx.AsyncClient() as client:
        unsigned = await client.post(callback_url, data=forged)
        badly_signed = await client.post(
            callback_url, data=forged, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
        )
    assert (unsigned.status_code, badly_signed.status_code) == (403, 403)
    assert (await notifications_of(service, event))["sms"].status is Status.SENDING

    response = await fake.send_status_callback(callback_url, sid, "delivered")
    assert response.status_code == 204
    row = await wait_for_status(service, event, "sms", Status.DELIVERED)
    late = await fake.send_status_callback(callback_url, sid, "sent")
    assert late.status_code == 204
    assert (await notifications_of(service, event))["sms"].status is Status.DELIVERED

    outcomes = await drain(amqp_url, "test.outcomes", expect=2)
    assert [m.routing_key for m in outcomes] == ["notification.sending", "notification.delivered"]
    data = json.loads(outcomes[1].body)["data"]
    assert (data["notification_id"], data["status"], data["event_id"]) == (
        row.id,
        "delivered",
        event["id"],
    )
    assert "900444" not in service.logs()


async def test_burst_of_texts_reaches_twilio_no_faster_than_the_throttle(
    service: ServiceProcess, amqp_url: str, fake: TimedFakeTwilio
) -> None:
    """Thirty one-fragment texts at once reach Twilio no faster than the token bucket allows:
    after the saved-up burst (its capacity), ``RATE`` a second."""
    count = 30
    customer = sms_first("SDC-100005", "+447700900555")
    await store_customers(service, customer)
    # The bucket exactly as the service builds it from these settings.
    settings = load_settings(
        sms_provider="twilio",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_segments_per_second=RATE,
    )
    bucket = TwilioChannel.from_settings(
        settings.sms, public_base_url=settings.http.public_base_url
    ).throttle
    assert bucket is not None and bucket.rate == RATE
    capacity = bucket.capacity
    await start(service, amqp_url)
    # One text first, so the burst does not include the client's first connection: its set-up
    # time would delay the first arrival and shrink the measured span.
    await publish_raw(amqp_url, [event_for(customer)])
    await wait_for_requests(fake, 1)
    await publish_raw(amqp_url, [event_for(customer) for _ in range(count)])
    await wait_for_requests(fake, 1 + count, timeout=30)

    requests: list[RecordedRequest] = fake.requests
    assert all(fragment_count(r.form["Body"]) == 1 for r in requests)
    burst = fake.arrivals[1:]
    span = max(burst) - min(burst)
    floor = (count - capacity) / RATE
    measured = (count - capacity) / span if span else float("inf")
    print(
        f"\n{count} SMS in {span:.3f}s; throttle {RATE:g}/s with capacity {capacity:g}: "
        f"floor {floor:.2f}s; measured rate after the burst {measured:.2f}/s"
    )
    assert span >= floor * 0.95
