"""The processing shell against a real store (SQLite and PostgreSQL) with injected channels."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.councils import load_councils
from notifier.errors import OptedOut, PermanentFailure, TechnicalFailure, TemporaryFailure
from notifier.lifecycle import Lifecycle
from notifier.messages import Message
from notifier.model import Channel, Receipt, Status
from notifier.preferences.model import Preferences
from notifier.preferences.store import PreferenceStore
from notifier.processing import Ack, Dead, Delivery, Processor, Retry, Step, step_for
from notifier.retries import RetryPolicy
from notifier.store.notifications import NotificationStore
from notifier.templates.source import Catalogue
from tests.events import body, make_event
from tests.fakes.channels import FakeChannel, Handler, RecordingSink, accept

NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CATALOGUE = Catalogue.load()
COUNCILS = load_councils()


class Rig:
    def __init__(self, engine: AsyncEngine, **handlers: Handler) -> None:
        self.notifications = NotificationStore(engine)
        self.preferences = PreferenceStore(engine)
        self.channels = {
            Channel(name): FakeChannel(name, handlers.get(name, accept))
            for name in ("email", "sms", "letter")
        }
        self.sink = RecordingSink()
        self.processor = Processor(
            catalogue=CATALOGUE,
            councils=COUNCILS,
            lifecycle=Lifecycle(self.notifications, self.sink, clock=lambda: NOON),
            preferences=self.preferences,
            channels=self.channels,
            retries=RetryPolicy((30.0, 300.0), max_attempts=3),
            clock=lambda: NOON,
            allow_fiction_range=True,  # the sample numbers are in Ofcom's drama range
        )

    def sent(self, channel: str) -> list[Message]:
        return self.channels[Channel(channel)].sent

    def outcomes(self) -> list[dict[str, object]]:
        return [json.loads(b) for _, b in self.sink.published]


async def test_event_becomes_sent_email_with_history(engine: AsyncEngine) -> None:
    """A valid event is emailed (first channel), recorded as sent with its history, outcome out."""
    rig = Rig(engine)
    event = make_event()
    verdict = await rig.processor.handle(Delivery(body(event)))
    assert verdict == Ack("sent")
    [row] = await rig.notifications.for_event(event["source"], event["id"])
    assert (row.channel, row.status, row.case_reference) == ("email", Status.SENT, "24/01234/FUL")
    assert row.template == "planning.application.received" and row.template_version
    history = await rig.notifications.history(row.id)
    assert [h.status for h in history] == [Status.CREATED, Status.SENDING, Status.SENT]
    [outcome] = rig.outcomes()
    assert outcome["type"] == "notification.sent"
    assert outcome["data"]["notification_id"] == row.id  # type: ignore[index]


async def test_outcome_carries_no_contact_details_or_text(engine: AsyncEngine) -> None:
    """Outcome events name ids and statuses, never the address, number, name or message."""
    rig = Rig(engine)
    await rig.processor.handle(Delivery(body(make_event())))
    raw = rig.sink.published[0][1].decode()
    for secret in (
        "alex@example.org",
        "07700",
        "Alex Smith",
        "High Street",
        "planning application",
    ):
        assert secret not in raw


async def test_same_event_twice_yields_one_notification(engine: AsyncEngine) -> None:
    """Publishing one event twice sends once and stores one notification."""
    rig = Rig(engine)
    event = make_event()
    first = await rig.processor.handle(Delivery(body(event)))
    second = await rig.processor.handle(Delivery(body(event)))
    assert (first, second) == (Ack("sent"), Ack("duplicate"))
    assert len(rig.sent("email")) == 1
    assert len(await rig.notifications.for_event(event["source"], event["id"])) == 1


async def test_concurrent_copies_send_once(engine: AsyncEngine) -> None:
    """Two copies processed at the same moment race on the unique constraint; one send."""
    rig = Rig(engine)
    event = make_event()
    verdicts = await asyncio.gather(
        *(rig.processor.handle(Delivery(body(event))) for _ in range(2))
    )
    assert sorted(v.outcome for v in verdicts if isinstance(v, Ack)) == ["duplicate", "sent"]
    assert len(rig.sent("email")) == 1


async def test_redelivery_after_crash_resends_unsent_notification(engine: AsyncEngine) -> None:
    """A notification left 'created' by a crash is sent when the broker redelivers the event."""
    rig = Rig(engine)
    event = make_event()

    async def crash(message: Message) -> Receipt:
        raise RuntimeError("worker died mid-send")

    rig.channels[Channel.EMAIL].handler = crash
    with pytest.raises(RuntimeError):
        await rig.processor.handle(Delivery(body(event)))
    rig.channels[Channel.EMAIL].handler = FakeChannel("x").handler
    assert await rig.processor.handle(Delivery(body(event))) == Ack("duplicate")
    assert await rig.processor.handle(Delivery(body(event), replay=True)) == Ack("sent")
    [row] = await rig.notifications.for_event(event["source"], event["id"])
    assert row.status is Status.SENT


async def test_permanent_failure_falls_back_to_next_channel(engine: AsyncEngine) -> None:
    """A refused email address moves the event to SMS; both attempts are on record."""

    async def refuse(message: Message) -> Receipt:
        raise PermanentFailure("smtp-550")

    rig = Rig(engine, email=refuse)
    event = make_event()
    assert await rig.processor.handle(Delivery(body(event))) == Ack("sent")
    rows = {r.channel: r for r in await rig.notifications.for_event(event["source"], event["id"])}
    assert rows["email"].status is Status.PERMANENT_FAILURE and rows["email"].reason == "smtp-550"
    assert rows["sms"].status is Status.SENT
    assert [o["type"] for o in rig.outcomes()] == [
        "notification.permanent-failure",
        "notification.sent",
    ]


async def test_every_channel_refusing_ends_failed(engine: AsyncEngine) -> None:
    """When every channel fails permanently the event is settled as failed, not lost."""

    async def refuse(message: Message) -> Receipt:
        raise PermanentFailure("refused")

    rig = Rig(engine, email=refuse, sms=refuse, letter=refuse)
    event = make_event()
    assert await rig.processor.handle(Delivery(body(event))) == Ack("failed")
    rows = await rig.notifications.for_event(event["source"], event["id"])
    assert sorted(r.channel for r in rows) == ["email", "letter", "sms"]
    assert all(r.status is Status.PERMANENT_FAILURE for r in rows)


async def test_retryable_failure_is_delayed_then_falls_back_when_exhausted(
    engine: AsyncEngine,
) -> None:
    """A relay outage schedules retries with growing delays; after the last it falls back."""

    async def down(message: Message) -> Receipt:
        raise TemporaryFailure("smtp-451")

    rig = Rig(engine, email=down)
    event = make_event()
    first = await rig.processor.handle(Delivery(body(event)))
    second = await rig.processor.handle(Delivery(body(event), attempt=1))
    assert first == Retry(30.0, "smtp-451", "email")
    assert second == Retry(300.0, "smtp-451", "email")
    third = await rig.processor.handle(Delivery(body(event), attempt=2))
    assert third == Ack("sent")
    rows = {r.channel: r for r in await rig.notifications.for_event(event["source"], event["id"])}
    assert rows["email"].status is Status.TEMPORARY_FAILURE
    assert rows["sms"].status is Status.SENT


async def test_a_provider_daily_limit_waits_until_its_reset(engine: AsyncEngine) -> None:
    """A technical failure naming when it is worth retrying (Notify's daily limit) waits at
    least that long, not the shorter first rung of the ladder."""

    async def limited(message: Message) -> Receipt:
        raise TechnicalFailure("notify-daily-limit", retry_after=5 * 3600.0)

    rig = Rig(engine, email=limited)
    verdict = await rig.processor.handle(Delivery(body(make_event())))
    assert verdict == Retry(5 * 3600.0, "notify-daily-limit", "email")


async def test_technical_failure_on_every_channel_is_dead_lettered(engine: AsyncEngine) -> None:
    """Bad credentials everywhere: recorded as technical failures, then dead-lettered for replay."""

    async def auth(message: Message) -> Receipt:
        raise TechnicalFailure("auth-failed", retryable=False)

    rig = Rig(engine, email=auth, sms=auth, letter=auth)
    verdict = await rig.processor.handle(Delivery(body(make_event())))
    assert isinstance(verdict, Dead) and verdict.reason == "delivery-failed"


async def test_stored_preferences_win_over_event_details(engine: AsyncEngine) -> None:
    """A known customer who chose SMS first gets a text to their stored number."""
    rig = Rig(engine)
    await rig.preferences.put(
        Preferences(
            council="sdc",
            customer_id="SDC-000123",
            mobile="+447700900999",
            channel_order=(Channel.SMS, Channel.EMAIL),
            quiet_hours=None,
        ),
        actor="test",
    )
    await rig.processor.handle(Delivery(body(make_event())))
    [text] = rig.sent("sms")
    assert text.to == "+447700900999"  # type: ignore[union-attr]
    assert rig.sent("email") == []


async def test_unknown_customer_without_usable_details_is_suppressed(engine: AsyncEngine) -> None:
    """A stored customer with no contact details gets a suppressed notification with a reason."""
    rig = Rig(engine)
    await rig.preferences.put(Preferences(council="sdc", customer_id="SDC-000123"), actor="test")
    event = make_event()
    assert await rig.processor.handle(Delivery(body(event))) == Ack("suppressed")
    [row] = await rig.notifications.for_event(event["source"], event["id"])
    assert (row.status, row.reason, row.channel) == (Status.SUPPRESSED, "no-usable-channel", "none")
    assert rig.outcomes()[0]["type"] == "notification.suppressed"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid-json"),
        (json.dumps({"specversion": "1.0"}).encode(), "schema"),
        (body(make_event(type="parking.permit.eaten")), "unknown-event-type"),
        (
            body(make_event(personalisation={"application_address": "1 Road"})),
            "missing-personalisation",
        ),
        (body(make_event(council="xyz")), "unknown-council"),
    ],
)
async def test_invalid_events_are_dead_lettered_with_reason(
    engine: AsyncEngine, raw: bytes, reason: str
) -> None:
    """Every kind of invalid event gets a Dead verdict naming its reason, and nothing is sent."""
    rig = Rig(engine)
    verdict = await rig.processor.handle(Delivery(raw))
    assert isinstance(verdict, Dead) and verdict.reason == reason
    assert not any(rig.sent(c) for c in ("email", "sms", "letter"))


@pytest.mark.parametrize(
    ("existing", "replay", "step"),
    [
        # "sending" here has its provider's receipt: Twilio's SID, a letter's print batch.
        (None, False, Step.SEND),
        (None, True, Step.SEND),
        (Status.CREATED, False, Step.DUPLICATE),
        (Status.CREATED, True, Step.RESUME),
        (Status.SUPPRESSED, False, Step.SKIP),
        (Status.SUPPRESSED, True, Step.SKIP),
        (Status.PERMANENT_FAILURE, True, Step.FALL_BACK),
        (Status.TEMPORARY_FAILURE, True, Step.FALL_BACK),
        (Status.TECHNICAL_FAILURE, False, Step.FALL_BACK),
        (Status.SENDING, True, Step.DONE),
        (Status.SENT, False, Step.DONE),
        (Status.DELIVERED, True, Step.DONE),
        (Status.POSTED, True, Step.DONE),
        (Status.RETURNED, False, Step.DONE),
    ],
)
def test_step_for_each_existing_status(existing: Status | None, replay: bool, step: Step) -> None:
    """What a (repeated) event does on a channel, by what that channel already holds."""
    assert step_for(existing, replay) is step


@pytest.mark.parametrize(("replay", "step"), [(True, Step.RECONCILE), (False, Step.DUPLICATE)])
def test_step_for_a_send_of_unknown_outcome(replay: bool, step: Step) -> None:
    """``sending`` with no provider receipt (only the intent recorded) is reconciled with the
    provider on a replay, and left to the delivery handling it otherwise."""
    assert step_for(Status.SENDING, replay, outcome_unknown=True) is step


async def test_the_event_attempt_is_the_one_retry_counter(engine: AsyncEngine) -> None:
    """An event on its last attempt (from the queue's header) is not retried again, even on a
    channel that has never failed before: one counter, shared with the worker's crash path."""

    async def down(message: Message) -> Receipt:
        raise TechnicalFailure("smtp-timeout")

    rig = Rig(engine, email=down)
    event = make_event()
    assert await rig.processor.handle(Delivery(body(event), attempt=2)) == Ack("sent")
    rows = {r.channel: r for r in await rig.notifications.for_event(event["source"], event["id"])}
    assert rows["email"].status is Status.TECHNICAL_FAILURE
    assert rows["sms"].status is Status.SENT


async def test_opted_out_failure_opts_the_stored_customer_out(engine: AsyncEngine) -> None:
    """A provider's opt-out (a failure type, not a reason string) marks the customer's SMS opt-out
    and the event falls back to the next channel."""

    async def stopped(message: Message) -> Receipt:
        raise OptedOut()

    rig = Rig(engine, sms=stopped)
    await rig.preferences.put(
        Preferences(
            council="sdc",
            customer_id="SDC-000123",
            email="alex@example.org",
            mobile="+447723456789",
            channel_order=(Channel.SMS, Channel.EMAIL),
            quiet_hours=None,
        ),
        actor="test",
    )
    assert await rig.processor.handle(Delivery(body(make_event()))) == Ack("sent")
    stored = await rig.preferences.get("sdc", "SDC-000123")
    assert stored is not None and stored.sms_opted_out is True
    assert len(rig.sent("email")) == 1


async def test_unusable_details_are_recorded_and_the_letter_is_posted(engine: AsyncEngine) -> None:
    """A bad email and a landline never reach an adapter: each channel is recorded as a
    permanent failure with its reason, and the letter goes to the address."""
    rig = Rig(engine)
    recipient = {
        "customer_id": "SDC-NEW-1",
        "email": "alex@",
        "mobile": "020 7946 0991",
        "address": ["10 High Street", "Stratford-upon-Avon", "CV37 6AA"],
    }
    event = make_event(recipient=recipient)
    assert await rig.processor.handle(Delivery(body(event))) == Ack("sent")
    rows = {r.channel: r for r in await rig.notifications.for_event(event["source"], event["id"])}
    assert {c: (r.status, r.reason) for c, r in rows.items()} == {
        "email": (Status.PERMANENT_FAILURE, "invalid-email"),
        "sms": (Status.PERMANENT_FAILURE, "invalid-mobile"),
        "letter": (Status.SENT, None),
    }
    assert (rig.sent("email"), rig.sent("sms"), len(rig.sent("letter"))) == ([], [], 1)


async def test_opt_out_on_an_event_number_reaches_the_stored_customer(engine: AsyncEngine) -> None:
    """A Twilio 21610 for an event carrying 07723 456789 opts out the customer stored with
    +447723456789: the text went to the E.164 number, and the opt-out looks that number up."""

    async def stopped(message: Message) -> Receipt:
        raise OptedOut("opted-out", "twilio-21610")

    rig = Rig(engine, sms=stopped)
    stored = Preferences(council="sdc", customer_id="SDC-STORED", mobile="+447723456789")
    await rig.preferences.put(stored, actor="test")
    event = make_event(recipient={"customer_id": "SDC-OTHER", "mobile": "07723 456789"})
    assert await rig.processor.handle(Delivery(body(event))) == Ack("failed")
    [sms] = rig.sent("sms")
    assert getattr(sms, "to", None) == "+447723456789"
    after = await rig.preferences.get("sdc", "SDC-STORED")
    assert after is not None and after.sms_opted_out is True
