"""NotificationStore's group commit: what a flush of many records and notes writes, in how many
statements, and that two stores on one database never both apply the same change. Each test
runs on SQLite and on PostgreSQL (the ``engine`` fixture)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError, NoResultFound
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.model import Status
from notifier.store.database import create_engine
from notifier.store.notifications import NewNotification, Notification, NotificationStore
from notifier.store.tables import notifications


def new(n: int, **extra: Any) -> NewNotification:
    values: dict[str, Any] = {
        "event_source": "/councils/sdc/test",
        "event_id": f"event-{n}",
        "event_type": "planning.application.received",
        "council": "sdc",
        "channel": "sms",
    }
    return NewNotification(**(values | extra))


async def created(store: NotificationStore, count: int, first: int = 0) -> list[Notification]:
    rows = await asyncio.gather(*(store.create(new(n)) for n in range(first, first + count)))
    assert all(row is not None for row in rows)
    return [row for row in rows if row is not None]


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` sends while the block runs (an executemany counts once)."""
    sent: list[str] = []

    def count(*args: Any) -> None:
        sent.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def column(engine: AsyncEngine, notification_id: str, name: str) -> Any:
    async with engine.connect() as conn:
        query = select(notifications.c[name]).where(notifications.c.id == notification_id)
        return (await conn.execute(query)).scalar_one()


async def flush_of(store: NotificationStore, rows: list[Notification]) -> list[Any]:
    """One flush of a record, a late receipt and a counted note per three rows."""
    calls: list[Awaitable[Any]] = []
    for k, row in enumerate(rows):
        if k % 3 == 0:
            calls.append(store.record(row.id, Status.SENDING, source="sms", provider_ref=f"SM{k}"))
        elif k % 3 == 1:
            calls.append(store.record(row.id, Status.CREATED, source="late"))
        else:
            calls.append(store.note(row.id, source="sms", reason="retry:http-500", attempt=True))
    return await asyncio.gather(*calls)


async def test_a_flush_of_records_and_notes_is_the_same_few_statements_for_any_number(
    engine: AsyncEngine,
) -> None:
    """Records and notes of one flush are written by one statement, executed many times: a
    flush of 60 sends exactly the statements a flush of 6 sends."""
    store = NotificationStore(engine)
    rows = await created(store, 66)
    await asyncio.gather(*(store.intend(row.id, source="sms") for row in rows))
    with statements(engine) as small:
        results = await flush_of(store, rows[:6])
    assert results == [True, False, None] * 2
    with statements(engine) as large:
        results = await flush_of(store, rows[6:])
    assert results == [True, False, None] * 20
    assert len(large) == len(small)
    assert sum(s.lstrip().upper().startswith("UPDATE NOTIFICATIONS") for s in large) == 1


async def test_a_record_changes_only_what_it_names(engine: AsyncEngine) -> None:
    """An applied record sets its status and the values it carries; the others stay as they
    were (a delivery keeps the provider's reference and fragments of the receipt before it)."""
    store = NotificationStore(engine)
    [row] = await created(store, 1)
    await store.intend(row.id, source="sms")
    assert await store.record(
        row.id, Status.SENDING, source="sms", provider_ref="SM1", fragments=2, reason="twilio"
    )
    assert await store.record(row.id, Status.DELIVERED, source="twilio-callback")
    stored = await store.get(row.id)
    assert stored is not None
    assert stored.status is Status.DELIVERED
    assert (stored.provider_ref, stored.reason) == ("SM1", "twilio")
    assert await column(engine, row.id, "fragments") == 2
    assert stored.attempt_started_at is not None  # not the record's to clear
    assert stored.updated_at >= stored.created_at


async def test_changes_to_one_notification_in_one_flush_apply_in_order(
    engine: AsyncEngine,
) -> None:
    """Within a flush each change is decided from the status the one before it left: the
    receipt applies, a second receipt does not, the delivery does, the late 'sending' does not;
    the history keeps all four with applied true or false."""
    store = NotificationStore(engine)
    [row] = await created(store, 1)
    await store.intend(row.id, source="sms")
    results = await asyncio.gather(
        store.record(row.id, Status.SENDING, source="sms", provider_ref="SM1"),
        store.record(row.id, Status.SENDING, source="sms", provider_ref="SM2"),
        store.record(row.id, Status.DELIVERED, source="twilio-callback"),
        store.record(row.id, Status.SENDING, source="twilio-callback", reason="twilio-sent"),
    )
    assert list(results) == [True, False, True, False]
    history = await store.history(row.id)
    assert [(h.status, h.source, h.applied) for h in history] == [
        (Status.CREATED, "worker", True),
        (Status.SENDING, "sms", True),  # the intent
        (Status.SENDING, "sms", True),
        (Status.SENDING, "sms", False),
        (Status.DELIVERED, "twilio-callback", True),
        (Status.SENDING, "twilio-callback", False),
    ]
    stored = await store.get(row.id)
    assert stored is not None and (stored.status, stored.provider_ref) == (Status.DELIVERED, "SM1")


async def test_notes_count_attempts_and_clear_an_intent_that_sent_nothing(
    engine: AsyncEngine,
) -> None:
    """A counted note adds one attempt each time and keeps the status; ``sent_nothing`` clears
    the attempt's start (the retry sends without reconciling), a note without it keeps it."""
    store = NotificationStore(engine)
    kept, cleared = await created(store, 2)
    await asyncio.gather(*(store.intend(row.id, source="sms") for row in (kept, cleared)))
    await asyncio.gather(
        store.note(kept.id, source="sms", reason="retry:timeout", attempt=True),
        store.note(kept.id, source="sms", reason="retry:timeout", attempt=True),
        store.note(
            cleared.id, source="sms", reason="retry:http-429", attempt=True, sent_nothing=True
        ),
        store.note(cleared.id, source="policy", reason="quiet-hours"),
    )
    first, second = await store.get(kept.id), await store.get(cleared.id)
    assert first is not None and second is not None
    assert (first.status, first.attempts, first.outcome_unknown) == (Status.SENDING, 2, True)
    assert (second.status, second.attempts, second.waiting) == (Status.SENDING, 1, True)
    history = await store.history(cleared.id)
    assert [(h.status, h.reason, h.applied) for h in history[-2:]] == [
        (Status.SENDING, "retry:http-429", False),
        (Status.SENDING, "quiet-hours", False),
    ]


async def test_an_attempt_counted_by_a_record_and_a_note_of_one_flush(engine: AsyncEngine) -> None:
    """A record with ``attempt`` counts one attempt when it applies and none when it does not."""
    store = NotificationStore(engine)
    [row] = await created(store, 1)
    results = await asyncio.gather(
        store.record(row.id, Status.TEMPORARY_FAILURE, source="sms", attempt=True),
        store.record(row.id, Status.CREATED, source="sms", attempt=True),
        store.note(row.id, source="sms", reason="retry:timeout", attempt=True),
    )
    assert list(results) == [True, False, None]
    assert await column(engine, row.id, "attempts") == 2


async def test_unknown_notifications_fail_only_their_own_callers(engine: AsyncEngine) -> None:
    """A record of an unknown id is not applied and a note of one raises; the rest of the
    flush stands."""
    store = NotificationStore(engine)
    [row] = await created(store, 1)
    results = await asyncio.gather(
        store.record("no-such-id", Status.DELIVERED, source="x"),
        store.note("no-such-id", source="x", reason="r", attempt=True),
        store.record(row.id, Status.DELIVERED, source="x"),
        return_exceptions=True,
    )
    assert results[0] is False and isinstance(results[1], NoResultFound) and results[2] is True
    assert await store.history("no-such-id") == []


async def test_a_failed_flush_is_replayed_one_operation_at_a_time(engine: AsyncEngine) -> None:
    """A create the database refuses fails the flush; each operation is then run alone, so the
    bad one fails its caller and every other is applied exactly once."""
    store = NotificationStore(engine)
    rows = await created(store, 4)
    bad = new(99, event_type=None)  # NOT NULL: the whole flush's transaction fails
    results = await asyncio.gather(
        store.create(bad),
        store.record(rows[0].id, Status.DELIVERED, source="x"),
        store.record(rows[1].id, Status.TECHNICAL_FAILURE, source="x", attempt=True),
        store.note(rows[2].id, source="x", reason="retry:timeout", attempt=True),
        store.note(rows[3].id, source="x", reason="retry:timeout", attempt=True, sent_nothing=True),
        return_exceptions=True,
    )
    assert isinstance(results[0], IntegrityError)
    assert list(results[1:]) == [True, True, None, None]
    assert [await column(engine, row.id, "attempts") for row in rows] == [0, 1, 1, 1]
    for row in rows:
        assert len(await store.history(row.id)) == 2  # created, then one entry, not two


async def test_two_stores_never_both_apply_one_change(
    engine: AsyncEngine, database_url: str
) -> None:
    """Two stores (two processes' worth) on one database move the same notifications at once:
    each move is applied by exactly one of them, the other's is kept as not applied. The
    decision is made in Python from the rows as read, so the rows must be held from the read
    to the commit."""
    other_engine = create_engine(database_url)
    try:
        one, other = NotificationStore(engine), NotificationStore(other_engine)
        for r in range(8):
            rows = await created(one, 10, first=100 * r)
            ids = [row.id for row in rows]
            await asyncio.gather(*(one.intend(i, source="sms") for i in ids))
            first, second = await asyncio.gather(
                asyncio.gather(*(one.record(i, Status.DELIVERED, source="one") for i in ids)),
                asyncio.gather(*(other.record(i, Status.DELIVERED, source="two") for i in ids)),
            )
            for notification_id, a, b in zip(ids, first, second, strict=True):
                assert a != b, "both or neither applied"
                history = await one.history(notification_id)
                assert [h.applied for h in history if h.status is Status.DELIVERED] in (
                    [True, False],
                    [False, True],
                )
    finally:
        await other_engine.dispose()


async def test_a_cancel_after_a_void_intent_in_the_same_flush_applies(engine: AsyncEngine) -> None:
    """A failed attempt that sent nothing voids its intent; a withdrawal queued behind it in the
    same flush finds the notification waiting again and cancels it. Without the void, the
    cancel is refused: a send has begun."""
    store = NotificationStore(engine)
    voided, begun = await created(store, 2)
    await asyncio.gather(*(store.intend(row.id, source="sms") for row in (voided, begun)))
    results = await asyncio.gather(
        store.note(voided.id, source="sms", reason="retry:x", attempt=True, sent_nothing=True),
        store.record(voided.id, Status.CANCELLED, source="withdrawal", reason="w"),
        store.note(begun.id, source="sms", reason="retry:x", attempt=True),
        store.record(begun.id, Status.CANCELLED, source="withdrawal", reason="w"),
    )
    assert list(results) == [None, True, None, False]
    statuses = {
        r.id: r.status for r in [await store.get(voided.id), await store.get(begun.id)] if r
    }
    assert statuses == {voided.id: Status.CANCELLED, begun.id: Status.SENDING}
