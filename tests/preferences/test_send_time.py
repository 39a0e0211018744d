"""Preferences read at send time: a change made while an event waits in a quiet-hours delay or a
retry is honoured, and every notification the wait left open is closed, none left 'created'."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.model import Channel, Status
from notifier.preferences.model import Preferences
from notifier.processing import Ack, Delivery, Retry
from tests.events import body, make_event
from tests.test_processing import CATALOGUE, Rig

NIGHT = datetime(2027, 1, 12, 22, 0, tzinfo=UTC)  # 22:00 GMT: inside 21:00-08:00
MORNING = datetime(2027, 1, 13, 8, 30, tzinfo=UTC)
RESIDENT = Preferences(
    council="sdc",
    customer_id="SDC-000123",
    email="alex@example.org",
    mobile="+447700900123",
    address=("Flat 2", "10 High Street", "Stratford-upon-Avon", "CV37 6AA"),
    channel_order=(Channel.SMS, Channel.EMAIL, Channel.LETTER),
)


def event_of(event_type: str, **changes: Any) -> dict[str, Any]:
    sample = CATALOGUE.get("sdc", event_type).sample
    return make_event(type=event_type, personalisation=dict(sample.personalisation), **changes)


async def waiting_text(rig: Rig, event: dict[str, Any]) -> None:
    """Handle ``event`` at night: the text waits for quiet hours to end."""
    rig.processor.clock = lambda: NIGHT
    verdict = await rig.processor.handle(Delivery(body(event)))
    assert isinstance(verdict, Retry) and verdict.reason == "quiet-hours"
    rig.processor.clock = lambda: MORNING


async def statuses(rig: Rig, event: dict[str, Any]) -> dict[str, tuple[Status, str | None]]:
    rows = await rig.notifications.for_event(event["source"], event["id"])
    return {r.channel: (r.status, r.reason) for r in rows}


async def test_topic_opt_out_during_quiet_hours_suppresses_the_waiting_text(
    engine: AsyncEngine,
) -> None:
    """Opting out of waste while its text waits for morning suppresses that very text."""
    rig = Rig(engine)
    await rig.preferences.put(RESIDENT, actor="test")
    event = event_of("waste.missed-collection.reported")
    await waiting_text(rig, event)
    await rig.preferences.update(
        "sdc",
        "SDC-000123",
        lambda p: dataclasses.replace(p, topic_opt_outs=frozenset({"waste"})),
        actor="resident",
    )
    assert await rig.processor.handle(Delivery(body(event), attempt=1)) == Ack("suppressed")
    assert await statuses(rig, event) == {"sms": (Status.SUPPRESSED, "opted-out")}
    assert rig.sent("sms") == [] and rig.sent("email") == []
    assert [o["type"] for o in rig.outcomes()] == ["notification.suppressed"]


async def test_new_first_channel_during_quiet_hours_sends_by_it_and_closes_the_text(
    engine: AsyncEngine,
) -> None:
    """Choosing email first while a text waits sends the email and closes the text."""
    rig = Rig(engine)
    await rig.preferences.put(RESIDENT, actor="test")
    event = event_of("waste.missed-collection.reported")
    await waiting_text(rig, event)
    await rig.preferences.update(
        "sdc",
        "SDC-000123",
        lambda p: dataclasses.replace(p, channel_order=(Channel.EMAIL, Channel.SMS)),
        actor="resident",
    )
    assert await rig.processor.handle(Delivery(body(event), attempt=1)) == Ack("sent")
    assert await statuses(rig, event) == {
        "email": (Status.SENT, None),
        "sms": (Status.SUPPRESSED, "sent-by-another-channel"),
    }
    assert rig.sent("sms") == []


async def test_stop_during_quiet_hours_moves_the_event_to_the_next_channel(
    engine: AsyncEngine,
) -> None:
    """A STOP recorded while the text waits: the text is closed, the email goes instead."""
    rig = Rig(engine)
    await rig.preferences.put(RESIDENT, actor="test")
    event = event_of("waste.missed-collection.reported")
    await waiting_text(rig, event)
    await rig.preferences.opt_out_sms(["+447700900123"], opted_out=True, actor="twilio")
    assert await rig.processor.handle(Delivery(body(event), attempt=1)) == Ack("sent")
    assert await statuses(rig, event) == {
        "email": (Status.SENT, None),
        "sms": (Status.SUPPRESSED, "preferences-changed"),
    }


async def test_do_not_contact_set_during_a_retry_suppresses(engine: AsyncEngine) -> None:
    """An email waiting to be retried is suppressed once the council sets do-not-contact."""
    from notifier.errors import TemporaryFailure

    async def full(message: object) -> Any:
        raise TemporaryFailure("mailbox-full")

    rig = Rig(engine, email=full)
    await rig.preferences.put(
        dataclasses.replace(RESIDENT, channel_order=(Channel.EMAIL,)), actor="test"
    )
    event = event_of("planning.application.received")
    assert isinstance(await rig.processor.handle(Delivery(body(event))), Retry)
    await rig.preferences.update(
        "sdc", "SDC-000123", lambda p: dataclasses.replace(p, do_not_contact=True), actor="crm"
    )
    assert await rig.processor.handle(Delivery(body(event), attempt=1)) == Ack("suppressed")
    assert await statuses(rig, event) == {"email": (Status.SUPPRESSED, "do-not-contact")}


async def test_redelivered_event_already_sent_is_not_suppressed_afterwards(
    engine: AsyncEngine,
) -> None:
    """An event sent before the resident opted out stays sent when redelivered; no second
    notification saying it was suppressed."""
    rig = Rig(engine)
    await rig.preferences.put(dataclasses.replace(RESIDENT, quiet_hours=None), actor="test")
    event = event_of("waste.missed-collection.reported")
    assert await rig.processor.handle(Delivery(body(event))) == Ack("sent")
    await rig.preferences.update(
        "sdc",
        "SDC-000123",
        lambda p: dataclasses.replace(p, topic_opt_outs=frozenset({"waste"})),
        actor="resident",
    )
    verdict = await rig.processor.handle(Delivery(body(event), replay=True))
    assert verdict == Ack("duplicate")
    assert await statuses(rig, event) == {"sms": (Status.SENT, None)}


async def test_urgent_event_is_texted_in_quiet_hours(engine: AsyncEngine) -> None:
    """An urgent event does not wait for the morning."""
    rig = Rig(engine)
    await rig.preferences.put(RESIDENT, actor="test")
    rig.processor.clock = lambda: NIGHT
    event = event_of("waste.missed-collection.reported", urgent=True)
    assert await rig.processor.handle(Delivery(body(event))) == Ack("sent")
    assert len(rig.sent("sms")) == 1


async def test_statutory_notice_reaches_a_resident_who_opted_out_of_its_topic(
    engine: AsyncEngine,
) -> None:
    """A planning decision notice is sent although the resident stopped planning messages."""
    rig = Rig(engine)
    await rig.preferences.put(
        dataclasses.replace(RESIDENT, topic_opt_outs=frozenset({"planning"}), quiet_hours=None),
        actor="test",
    )
    event = event_of("planning.decision.issued")
    assert await rig.processor.handle(Delivery(body(event))) == Ack("sent")
    assert len(rig.sent("sms")) == 1


async def test_topic_off_one_channel_goes_by_the_next(engine: AsyncEngine) -> None:
    """'waste:sms' sends a waste event by email, the resident's next channel."""
    rig = Rig(engine)
    await rig.preferences.put(
        dataclasses.replace(RESIDENT, topic_opt_outs=frozenset({"waste:sms"})), actor="test"
    )
    event = event_of("waste.missed-collection.reported")
    assert await rig.processor.handle(Delivery(body(event))) == Ack("sent")
    assert rig.sent("sms") == [] and len(rig.sent("email")) == 1
