"""Notify's callbacks in-process (httpx over ASGI) against a real store on SQLite and PostgreSQL:
the bearer token per council, the status table, out-of-order and repeated receipts, the poll by
reference, and STOP replies feeding the same opt-out as Twilio's."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.channels.notify import STATUSES, Account, ApiKey, NotifyClient, NotifySmsChannel
from notifier.councils import load_councils
from notifier.http import create_app
from notifier.jobs import poll_notify_once
from notifier.lifecycle import Lifecycle
from notifier.messages import SmsMessage
from notifier.model import Channel, Status
from notifier.preferences.model import Preferences
from notifier.preferences.store import PreferenceStore
from notifier.settings import load_settings
from notifier.store.notifications import NewNotification, Notification, NotificationStore
from notifier.web.notify import bearer_matches, notify_router
from notifier.web.replies import reply_number
from tests.fakes.channels import RecordingSink
from tests.fakes.notify import API_KEY, CALLBACK_TOKEN, SMS_TEMPLATE, FakeNotify

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
MOBILE = "+447723456789"
STATUS = "/webhooks/notify/sdc/status"
INBOUND = "/webhooks/notify/sdc/inbound"


class Rig:
    def __init__(self, engine: AsyncEngine, client: httpx.AsyncClient, sink: RecordingSink):
        self.notifications = NotificationStore(engine)
        self.preferences = PreferenceStore(engine)
        self.lifecycle = Lifecycle(self.notifications, sink, clock=lambda: AT)
        self.client = client
        self.sink = sink

    async def sending(
        self, channel: str = "sms", council: str = "sdc", ref: str | None = None
    ) -> Notification:
        row = await self.created(channel, council)
        ref = ref or str(uuid.uuid4())
        await self.notifications.record(row.id, Status.SENDING, source=channel, provider_ref=ref)
        stored = await self.notifications.get(row.id)
        assert stored is not None
        return stored

    async def created(self, channel: str = "sms", council: str = "sdc") -> Notification:
        row = await self.notifications.create(
            NewNotification(
                event_source=f"/councils/{council}/planning",
                event_id=str(uuid.uuid4()),
                event_type="planning.application.received",
                council=council,
                channel=channel,
                customer_id="SDC-000123",
                case_reference="24/01234/FUL",
                recipient=MOBILE,
            )
        )
        assert row is not None
        return row

    async def receipt(
        self, row: Notification, status: str, *, token: str = CALLBACK_TOKEN, path: str = STATUS
    ) -> httpx.Response:
        body = {"id": row.provider_ref, "reference": row.id, "status": status, "to": MOBILE}
        return await self.client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})

    async def status_of(self, row: Notification) -> Status:
        stored = await self.notifications.get(row.id)
        assert stored is not None
        return stored.status


@pytest.fixture
async def rig(engine: AsyncEngine) -> AsyncIterator[Rig]:
    sink = RecordingSink()
    router = notify_router(
        tokens={"sdc": SecretStr(CALLBACK_TOKEN)},
        lifecycle=Lifecycle(NotificationStore(engine), sink, clock=lambda: AT),
        preferences=PreferenceStore(engine),
    )
    transport = httpx.ASGITransport(app=create_app(routers=[router]))
    async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.7:8080") as client:
        yield Rig(engine, client, sink)


@pytest.mark.parametrize(
    ("notify_status", "ours"),
    [
        ("delivered", Status.DELIVERED),
        ("permanent-failure", Status.PERMANENT_FAILURE),
        ("temporary-failure", Status.TEMPORARY_FAILURE),
        ("technical-failure", Status.TECHNICAL_FAILURE),
    ],
)
async def test_a_receipt_moves_the_notification(rig: Rig, notify_status: str, ours: Status) -> None:
    """Each final receipt for email and text moves the notification and publishes its outcome."""
    row = await rig.sending()
    assert (await rig.receipt(row, notify_status)).status_code == 204
    assert await rig.status_of(row) is ours
    assert [key for key, _ in rig.sink.published] == [f"notification.{ours}"]


def test_every_letter_status_has_a_row() -> None:
    """Letters' statuses map too: received is posted, validation-failed a permanent failure."""
    assert STATUSES["received"][0] is Status.POSTED
    assert STATUSES["returned-letter"][0] is Status.RETURNED
    assert STATUSES["validation-failed"] == (Status.PERMANENT_FAILURE, "notify-validation-failed")
    assert STATUSES["pending-virus-check"][0] is Status.SENDING


async def test_a_late_or_repeated_receipt_changes_nothing(rig: Rig) -> None:
    """Delivered then a stale temporary-failure, then delivered again: one change, one outcome."""
    row = await rig.sending()
    for status in ("delivered", "temporary-failure", "delivered", "sending"):
        assert (await rig.receipt(row, status)).status_code == 204
    assert await rig.status_of(row) is Status.DELIVERED
    assert len(rig.sink.published) == 1


async def test_a_wrong_token_is_refused_and_changes_nothing(rig: Rig) -> None:
    """A wrong token, no token, or another council's URL: 403, nothing moved or published."""
    row = await rig.sending()
    forged = await rig.receipt(row, "permanent-failure", token="not-the-token-at-all")
    bare = await rig.client.post(STATUS, json={"reference": row.id, "status": "delivered"})
    other = await rig.receipt(row, "delivered", path="/webhooks/notify/wdc/status")
    assert (forged.status_code, bare.status_code, other.status_code) == (403, 403, 403)
    assert await rig.status_of(row) is Status.SENDING and not rig.sink.published


async def test_a_receipt_for_another_council_or_provider_is_ignored(rig: Rig) -> None:
    """A reference of another council's notification, or one sent through another provider,
    moves nothing (204, so Notify does not retry)."""
    theirs = await rig.sending(council="wdc")
    by_twilio = await rig.sending(ref="SM" + "0" * 32)
    for row in (theirs, by_twilio):
        body = {"id": str(uuid.uuid4()), "reference": row.id, "status": "delivered"}
        headers = {"Authorization": f"Bearer {CALLBACK_TOKEN}"}
        assert (await rig.client.post(STATUS, json=body, headers=headers)).status_code == 204
        assert await rig.status_of(row) is Status.SENDING


def test_the_token_check_needs_the_bearer_scheme_and_the_exact_token() -> None:
    """Only ``Bearer <token>`` with exactly the token passes; no token configured never does."""
    token = SecretStr(CALLBACK_TOKEN)
    assert bearer_matches(f"Bearer {CALLBACK_TOKEN}", token)
    assert not bearer_matches(f"Basic {CALLBACK_TOKEN}", token)
    assert not bearer_matches(f"Bearer {CALLBACK_TOKEN}x", token)
    assert not bearer_matches("Bearer ", None)


async def test_stop_from_notify_opts_the_number_out(rig: Rig) -> None:
    """A STOP reply through Notify (447... without the plus) opts the stored number out, and
    START opts it back in, as Twilio's replies do."""
    await rig.preferences.put(
        Preferences(
            council="sdc",
            customer_id="SDC-000123",
            mobile=MOBILE,
            channel_order=(Channel.SMS, Channel.EMAIL),
        ),
        actor="test",
    )
    headers = {"Authorization": f"Bearer {CALLBACK_TOKEN}"}
    for message, expected in (("Stop ", True), ("START", False)):
        body = {"id": "x", "source_number": MOBILE.lstrip("+"), "message": message}
        assert (await rig.client.post(INBOUND, json=body, headers=headers)).status_code == 204
        stored = await rig.preferences.get("sdc", "SDC-000123")
        assert stored is not None and stored.sms_opted_out is expected
    assert reply_number("447723456789") == MOBILE


async def test_a_forged_stop_is_refused(rig: Rig) -> None:
    """An inbound text without the token opts nobody out."""
    body = {"source_number": "447723456789", "message": "STOP"}
    response = await rig.client.post(INBOUND, json=body, headers={"Authorization": "Bearer x"})
    assert response.status_code == 403


async def test_the_poll_asks_by_reference_and_moves_what_changed(rig: Rig) -> None:
    """For a council without callbacks, a notification still sending is asked about by its
    reference and moved as a receipt would move it; one sent through Twilio is not asked."""
    settings = load_settings(
        sms_provider="twilio",
        sms_second_provider="notify",
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="t",
        notify_api_keys=f'{{"sdc": "{API_KEY}"}}',
        notify_sms_template_ids=f'{{"sdc": "{SMS_TEMPLATE}"}}',
    )
    async with FakeNotify() as fake:
        client = NotifyClient(
            {"sdc": Account(ApiKey.parse(API_KEY, "sdc"), sms_template_id=SMS_TEMPLATE)},
            base_url=fake.base_url,
        )
        sent = await rig.created()
        message = SmsMessage(sent.id, load_councils()["sdc"], "x.y.z", MOBILE, "Hi.", 1)
        receipt = await NotifySmsChannel(client).send(message)
        await rig.notifications.record(
            sent.id, Status.SENDING, source="sms", provider_ref=receipt.provider_ref
        )
        await rig.sending(ref="SM" + "1" * 32)  # went through Twilio
        fake.set_status(str(receipt.provider_ref), "delivered")
        try:
            counts = await poll_notify_once(settings, client, rig.lifecycle)
        finally:
            await client.aclose()
    assert counts == {"asked": 1, "moved": 1}
    assert await rig.status_of(sent) is Status.DELIVERED
