"""A send of unknown outcome, replayed: the processing shell reconciles with the provider before
sending again (a real store, the Twilio channel against its HTTP fake, an injected email
channel)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier import metrics
from notifier.channels.base import Channel as ChannelAdapter
from notifier.channels.twilio import TwilioChannel
from notifier.councils import load_councils
from notifier.errors import TechnicalFailure
from notifier.lifecycle import Lifecycle
from notifier.messages import Message
from notifier.model import Channel, Receipt, Status
from notifier.preferences.model import Preferences
from notifier.preferences.store import PreferenceStore
from notifier.processing import Ack, Dead, Delivery, Processor, Retry
from notifier.retries import RetryPolicy
from notifier.store.notifications import Notification, NotificationStore
from notifier.templates.source import Catalogue
from tests.channels.test_twilio import make_channel
from tests.events import body, make_event
from tests.fakes.channels import FakeChannel, Handler, RecordingSink, accept
from tests.fakes.twilio import FakeTwilio
from tests.metrics import counted

CATALOGUE = Catalogue.load()
COUNCILS = load_councils()
MOBILE = "+447700900999"


class Rig:
    def __init__(
        self, engine: AsyncEngine, sms: ChannelAdapter, email: Handler = accept, attempts: int = 5
    ) -> None:
        self.notifications = NotificationStore(engine)
        self.preferences = PreferenceStore(engine)
        self.email = FakeChannel("email", email)
        self.sink = RecordingSink()
        self.processor = Processor(
            catalogue=CATALOGUE,
            councils=COUNCILS,
            lifecycle=Lifecycle(self.notifications, self.sink),
            preferences=self.preferences,
            channels={
                Channel.EMAIL: self.email,
                Channel.SMS: sms,
                Channel.LETTER: FakeChannel("l"),
            },
            retries=RetryPolicy((1.0,), max_attempts=attempts),
            allow_fiction_range=True,
        )
        self.event = make_event()

    async def sms_first(self) -> None:
        await self.preferences.put(
            Preferences(
                council="sdc",
                customer_id="SDC-000123",
                mobile=MOBILE,
                email="alex@example.org",
                channel_order=(Channel.SMS, Channel.EMAIL),
                quiet_hours=None,
            ),
            actor="test",
        )

    async def handle(self, attempt: int) -> Ack | Retry | Dead:
        return await self.processor.handle(Delivery(body(self.event), attempt=attempt))

    async def row(self, channel: str) -> Notification:
        rows = await self.notifications.for_event(self.event["source"], self.event["id"])
        return {r.channel: r for r in rows}[channel]

    def outcome_statuses(self) -> list[str]:
        return [json.loads(b)["data"]["status"] for _, b in self.sink.published]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        yield fake


@pytest.fixture
async def twilio(fake: FakeTwilio) -> AsyncIterator[TwilioChannel]:
    channel = make_channel(fake)
    yield channel
    await channel.aclose()


async def test_the_replay_adopts_a_text_whose_answer_was_lost(
    engine: AsyncEngine, fake: FakeTwilio, twilio: TwilioChannel
) -> None:
    """Twilio accepts the text and the answer is lost: the notification waits in ``sending``
    with its intent; the replay finds Twilio's copy, records its SID, and sends no second
    text. Counted and announced once, as ``sending``."""
    rig = Rig(engine, twilio)
    await rig.sms_first()
    before = counted("sms", Status.SENDING)
    fake.lose_answer_next()
    first = await rig.handle(attempt=0)
    assert isinstance(first, Retry) and first.reason == "network-error"
    row = await rig.row("sms")
    assert row.outcome_unknown and row.attempt_started_at is not None
    assert rig.outcome_statuses() == []  # the intent is not an outcome

    assert await rig.handle(attempt=1) == Ack("sending")
    [sid] = fake.messages
    row = await rig.row("sms")
    assert (row.status, row.provider_ref, row.reason) == (Status.SENDING, sid, "reconciled")
    assert len(fake.requests) == 1 and len(fake.lists) == 1
    assert rig.email.sent == []
    assert counted("sms", Status.SENDING) == before + 1
    assert rig.outcome_statuses() == ["sending"]
    print(f"texts posted {len(fake.requests)}, lists {len(fake.lists)}, adopted {sid[:6]}...")


async def test_reconciling_waits_while_twilio_cannot_be_asked_then_settles(
    engine: AsyncEngine, fake: FakeTwilio, twilio: TwilioChannel
) -> None:
    """While Twilio's list answers 503 the replay neither sends nor guesses: it goes back to
    the delay queue, counted as an attempt. Once Twilio answers, the copy is adopted."""
    rig = Rig(engine, twilio)
    await rig.sms_first()
    fake.lose_answer_next()
    assert isinstance(await rig.handle(attempt=0), Retry)
    fake.fail_lists(503)
    for attempt in (1, 2):
        verdict = await rig.handle(attempt=attempt)
        assert verdict == Retry(1.0, "reconcile:http-503", "sms")
    row = await rig.row("sms")
    assert row.outcome_unknown and len(fake.requests) == 1
    fake.fail_lists(None)
    assert await rig.handle(attempt=3) == Ack("sending")
    assert (await rig.row("sms")).provider_ref == next(iter(fake.messages))
    assert len(fake.requests) == 1


async def test_an_outcome_that_stays_unknown_is_dead_lettered_not_guessed(
    engine: AsyncEngine, fake: FakeTwilio, twilio: TwilioChannel
) -> None:
    """When the attempts run out with Twilio still unable to answer, the event is dead-lettered
    as outcome-unknown for an operator to replay: neither resent nor failed over to email."""
    rig = Rig(engine, twilio, attempts=2)
    await rig.sms_first()
    fake.lose_answer_next()
    assert isinstance(await rig.handle(attempt=0), Retry)
    fake.fail_lists(503)
    verdict = await rig.handle(attempt=1)
    assert isinstance(verdict, Dead) and verdict.reason == "outcome-unknown"
    assert len(fake.requests) == 1 and rig.email.sent == []


async def test_the_replay_sends_when_twilio_has_no_copy(
    engine: AsyncEngine, fake: FakeTwilio, twilio: TwilioChannel
) -> None:
    """A timeout before Twilio stored anything (it answered 503 then) leaves nothing to adopt
    when the failure was ambiguous: the replay lists, finds nothing, and sends once."""
    rig = Rig(engine, twilio)
    await rig.sms_first()
    fake.fail_next(status=503)  # a 5xx may or may not have sent: reconciled on the replay
    assert isinstance(await rig.handle(attempt=0), Retry)
    assert (await rig.row("sms")).outcome_unknown
    assert await rig.handle(attempt=1) == Ack("sending")
    assert len(fake.messages) == 1 and len(fake.lists) == 1


async def test_a_failure_that_surely_sent_nothing_resends_without_reconciling(
    engine: AsyncEngine, fake: FakeTwilio, twilio: TwilioChannel
) -> None:
    """A 429 (never processed) clears the intent: the retry sends without asking Twilio."""
    rig = Rig(engine, twilio)
    await rig.sms_first()
    fake.fail_next(status=429, code=20429)
    assert isinstance(await rig.handle(attempt=0), Retry)
    row = await rig.row("sms")
    assert row.status is Status.SENDING and not row.outcome_unknown and row.waiting
    assert await rig.handle(attempt=1) == Ack("sending")
    assert len(fake.messages) == 1 and fake.lists == []


async def test_a_copy_owned_by_another_notification_is_not_adopted(
    engine: AsyncEngine, fake: FakeTwilio, twilio: TwilioChannel
) -> None:
    """An identical text to the same number whose SID another notification holds is that
    notification's: this one is sent."""
    rig = Rig(engine, twilio)
    await rig.sms_first()
    fake.lose_answer_next()
    assert isinstance(await rig.handle(attempt=0), Retry)
    [sid] = fake.messages
    other = Rig(engine, twilio)
    other.event = make_event()
    await other.processor.handle(Delivery(body(other.event)))  # claims the SID below
    other_row = await other.row("sms")
    await rig.notifications.record(other_row.id, Status.DELIVERED, source="t", provider_ref=sid)
    assert await rig.handle(attempt=1) == Ack("sending")
    assert (await rig.row("sms")).provider_ref not in (None, sid)


async def test_an_email_of_unknown_outcome_is_resent_and_counted_as_a_possible_duplicate(
    engine: AsyncEngine,
) -> None:
    """SMTP cannot be asked: a send that timed out after DATA is resent for the same
    notification (so with the same Message-ID) and counted in
    notifier_possible_duplicates_total; a refusal that surely sent nothing is not counted."""
    calls: list[Message] = []

    async def flaky(message: Message) -> Receipt:
        calls.append(message)
        if len(calls) == 1:
            raise TechnicalFailure("smtp-timeout", "data", outcome_unknown=True)
        if len(calls) == 2:
            raise TechnicalFailure("smtp-421", "mail")  # refused before the data: nothing sent
        return Receipt(Status.SENT, provider_ref="<id@example>")

    rig = Rig(engine, FakeChannel("sms"), email=flaky)
    before = duplicates("email")
    assert isinstance(await rig.handle(attempt=0), Retry)
    assert (await rig.row("email")).outcome_unknown
    assert isinstance(await rig.handle(attempt=1), Retry)  # resent: possibly a duplicate
    assert duplicates("email") == before + 1
    assert (await rig.row("email")).waiting  # that one was refused: nothing at the relay
    assert await rig.handle(attempt=2) == Ack("sent")
    assert duplicates("email") == before + 1
    assert len({m.notification_id for m in calls}) == 1 and len(calls) == 3


def duplicates(channel: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "notifier_possible_duplicates_total", {"channel": channel}
    )
    return value or 0.0
