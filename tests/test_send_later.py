"""Sending later: ``data.send_after`` records the notification at once, waiting; a short wait goes
through a delay queue, a long one is kept in the database and released by the scheduled job
(once, whichever workers run it); it is planned and sent again at its time."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.errors import InvalidEvent
from notifier.events import parse
from notifier.model import Status
from notifier.processing import Ack, Delivery, Retry
from notifier.store.scheduled import ScheduledEvent, ScheduledStore
from tests.events import body, make_event
from tests.test_processing import NOON, Rig
from tests.test_withdrawal import REMINDER, withdraw


def later(delay: timedelta, **changes: Any) -> dict[str, Any]:
    event = make_event(
        type="housing.repair-appointment.reminder",
        subject="RP-2027-118406",
        personalisation=REMINDER,
        **changes,
    )
    event["data"]["send_after"] = (NOON + delay).isoformat()
    event["time"] = NOON.isoformat()
    return event


def with_store(rig: Rig, engine: AsyncEngine) -> ScheduledStore:
    store = ScheduledStore(engine)
    rig.processor.scheduled = store
    return store


async def test_a_short_wait_goes_through_a_delay_queue_without_using_an_attempt(
    engine: AsyncEngine,
) -> None:
    """Due in two minutes (between the shortest and the longest delay queue): recorded now as
    waiting (created, with its time), nothing sent, and a delay-queue wait that does not count
    as an attempt."""
    rig = Rig(engine)
    with_store(rig, engine)
    event = later(timedelta(minutes=2))
    verdict = await rig.processor.handle(Delivery(body(event)))
    assert verdict == Retry(120.0, "scheduled", "email", counts=False)
    [row] = await rig.notifications.for_event(event["source"], event["id"])
    assert row.status is Status.CREATED
    assert [h.reason for h in await rig.notifications.history(row.id)] == [None, "scheduled"]
    assert rig.sent("email") == []


async def test_a_long_wait_is_kept_and_released_once_then_sent_at_its_time(
    engine: AsyncEngine,
) -> None:
    """Due in two days: kept in the database and acked; two release jobs running at once at
    the due time publish it once; the released event is sent then, not before."""
    rig = Rig(engine)
    store = with_store(rig, engine)
    event = later(timedelta(days=2))
    assert await rig.processor.handle(Delivery(body(event))) == Ack("scheduled")
    assert await store.waiting() == 1
    released: list[ScheduledEvent] = []

    async def publish(kept: ScheduledEvent) -> None:
        released.append(kept)

    early = await store.release_due(NOON + timedelta(days=1), publish)
    assert (early, released) == (0, [])
    due = NOON + timedelta(days=2, seconds=1)
    counts = await asyncio.gather(store.release_due(due, publish), store.release_due(due, publish))
    assert sorted(counts) == [0, 1] and len(released) == 1
    assert await store.waiting() == 0
    rig.processor.clock = lambda: due
    replayed = Delivery(released[0].body, released[0].content_type, replay=True)
    assert await rig.processor.handle(replayed) == Ack("sent")
    [row] = await rig.notifications.for_event(event["source"], event["id"])
    assert row.status is Status.SENT and len(rig.sent("email")) == 1


async def test_a_failed_publish_leaves_the_event_kept(engine: AsyncEngine) -> None:
    """When the broker cannot take a released event, it stays kept for the next run."""
    rig = Rig(engine)
    store = with_store(rig, engine)
    await rig.processor.handle(Delivery(body(later(timedelta(days=2)))))

    async def broker_down(kept: ScheduledEvent) -> None:
        raise ConnectionError("broker gone")

    with pytest.raises(ConnectionError):
        await store.release_due(NOON + timedelta(days=3), broker_down)
    assert await store.waiting() == 1


async def test_a_scheduled_reminder_withdrawn_before_its_time_is_never_sent(
    engine: AsyncEngine,
) -> None:
    """The appointment is cancelled while the reminder waits: cancelled, and its release sends
    nothing."""
    rig = Rig(engine)
    store = with_store(rig, engine)
    event = later(timedelta(days=2))
    await rig.processor.handle(Delivery(body(event)))
    assert await rig.processor.handle(Delivery(body(withdraw()))) == Ack("withdrawn")
    [waiting] = await rig.notifications.for_event(event["source"], event["id"])
    assert waiting.status is Status.CANCELLED
    released: list[ScheduledEvent] = []

    async def publish(kept: ScheduledEvent) -> None:
        released.append(kept)

    await store.release_due(NOON + timedelta(days=3), publish)
    rig.processor.clock = lambda: NOON + timedelta(days=3)
    assert await rig.processor.handle(Delivery(released[0].body, replay=True)) == Ack("duplicate")
    [row] = await rig.notifications.for_event(event["source"], event["id"])
    assert row.status is Status.CANCELLED and rig.sent("email") == []


async def test_a_time_in_the_past_sends_now(engine: AsyncEngine) -> None:
    """send_after already past: sent at once."""
    rig = Rig(engine)
    assert await rig.processor.handle(Delivery(body(later(-timedelta(hours=1))))) == Ack("sent")


@pytest.mark.parametrize(
    ("send_after", "reason"),
    [
        ("next tuesday", "invalid-send-after"),
        ("2026-12-01T10:00:00", "invalid-send-after"),  # no offset
        ("2028-01-01T10:00:00+00:00", "send-after-too-far"),
    ],
)
def test_unusable_send_after_is_an_invalid_event(send_after: str, reason: str) -> None:
    """A send time that does not parse, has no offset, or is over a year ahead is invalid."""
    event = make_event()
    event["time"] = datetime(2026, 12, 1, tzinfo=UTC).isoformat()
    event["data"]["send_after"] = send_after
    with pytest.raises(InvalidEvent) as caught:
        parse(json.dumps(event).encode())
    assert caught.value.reason == reason
