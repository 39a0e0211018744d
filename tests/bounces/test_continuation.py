"""The processing shell's part in bounces, against a real store with injected channels: the event
kept with the email only, the continued event falling back to the next channel, and
``no-channel-left`` when there is none."""

from __future__ import annotations

import json

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.lifecycle import Lifecycle
from notifier.model import Channel, Status
from notifier.preferences.store import PreferenceStore
from notifier.processing import Ack, Delivery, Processor
from notifier.retries import RetryPolicy
from notifier.store.notifications import NotificationStore
from tests.events import body, make_event
from tests.fakes.channels import FakeChannel, RecordingSink, accept
from tests.test_processing import CATALOGUE, COUNCILS, NOON


def processor(engine: AsyncEngine, sink: RecordingSink) -> tuple[Processor, NotificationStore]:
    store = NotificationStore(engine)
    return (
        Processor(
            catalogue=CATALOGUE,
            councils=COUNCILS,
            lifecycle=Lifecycle(store, sink, clock=lambda: NOON),
            preferences=PreferenceStore(engine),
            channels={Channel(c): FakeChannel(c, accept) for c in ("email", "sms", "letter")},
            retries=RetryPolicy((30.0,), max_attempts=3),
            clock=lambda: NOON,
            allow_fiction_range=True,
            keep_events=True,
        ),
        store,
    )


async def test_event_is_kept_with_the_email_only_and_continues_to_text(
    engine: AsyncEngine,
) -> None:
    """The email keeps the event's bytes; once a bounce has failed it, the same event as a
    replay sends the text and leaves the email as it is."""
    sink = RecordingSink()
    shell, store = processor(engine, sink)
    event = make_event()
    assert await shell.handle(Delivery(body(event))) == Ack("sent")
    [email] = await store.for_event(event["source"], event["id"])
    kept = await store.kept(email.id)
    assert kept is not None and kept.event is not None
    assert json.loads(kept.event)["id"] == event["id"]

    await store.record(email.id, Status.PERMANENT_FAILURE, source="bounce", reason="hard-bounce")
    assert await shell.handle(Delivery(kept.event.encode(), replay=True)) == Ack("sent")
    rows = {r.channel: r for r in await store.for_event(event["source"], event["id"])}
    assert rows["email"].status is Status.PERMANENT_FAILURE and rows["sms"].status is Status.SENT
    assert (await store.kept(rows["sms"].id)).event is None  # type: ignore[union-attr]


async def test_continued_event_with_no_channel_left_says_so(engine: AsyncEngine) -> None:
    """A customer reachable only by email: the continued event sends nothing, and the failed
    email's outcome is published again with reason no-channel-left."""
    sink = RecordingSink()
    shell, store = processor(engine, sink)
    event = make_event(recipient={"email": "alex@example.org"})
    assert await shell.handle(Delivery(body(event))) == Ack("sent")
    [email] = await store.for_event(event["source"], event["id"])
    await store.record(email.id, Status.PERMANENT_FAILURE, source="bounce", reason="hard-bounce")
    assert await shell.handle(Delivery(body(event), replay=True)) == Ack("failed")
    key, last = sink.published[-1]
    data = json.loads(last)["data"]
    assert (key, data["channel"], data["reason"]) == (
        "notification.permanent-failure",
        "email",
        "no-channel-left",
    )
