"""Notification records and their status history.

Writes from the worker's many concurrent events are group-committed (``batching.py``):
``create``, ``record``, ``intend``, ``note`` and ``for_event`` queue an operation and wait; one
flush at a time runs everything queued so far in one transaction (one pooled connection, a
handful of statements whatever the number of operations: each kind of operation is one
statement, or one executemany of one statement) and only then answers each caller, so a caller
still learns of its record only once it is durable.
"""

from __future__ import annotations

import dataclasses
import functools
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Insert,
    Integer,
    Select,
    String,
    Update,
    and_,
    bindparam,
    case,
    func,
    insert,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import NoResultFound
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.model import FINAL_STATUSES, Status, may_move
from notifier.store.batching import GroupCommit
from notifier.store.database import among, pairs_among, pairs_bound
from notifier.store.tables import letter_spool, notifications, status_history


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclasses.dataclass(frozen=True, slots=True)
class NewNotification:
    """What is known of a notification when it is created."""

    event_source: str
    event_id: str
    event_type: str
    council: str
    channel: str
    customer_id: str | None = None
    case_reference: str | None = None
    template: str | None = None
    template_version: str | None = None
    recipient: str | None = None
    postage: str | None = None
    status: Status = Status.CREATED
    reason: str | None = None
    waits_until: datetime | None = None  # a later send time it waits for (data.send_after)
    # The event's body as received, for an email that may bounce (personal data: purged).
    kept_event: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Kept:
    """What a bounce needs beyond the notification: whether its personal data is already
    purged, and the event kept to continue it on the next channel."""

    purged: bool
    event: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class Notification:
    """A stored notification (without its history)."""

    id: str
    event_source: str
    event_id: str
    event_type: str
    council: str
    customer_id: str | None
    case_reference: str | None
    channel: str
    template: str | None
    template_version: str | None
    status: Status
    reason: str | None
    provider_ref: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    attempt_started_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Any) -> Notification:
        values = {f.name: getattr(row, f.name) for f in dataclasses.fields(cls)}
        values["status"] = Status(values["status"])
        for key in ("created_at", "updated_at", "attempt_started_at"):
            if values[key] is not None:
                values[key] = aware(values[key])
        return cls(**values)

    @property
    def outcome_unknown(self) -> bool:
        """``sending`` with no provider receipt: a send was begun (the intent is recorded) but
        its answer never was, so only the provider knows whether it went (docs/events.md)."""
        return self._unreceipted and self.attempt_started_at is not None

    @property
    def waiting(self) -> bool:
        """Nothing handed to a provider yet: ``created``, or ``sending`` whose every attempt
        failed before reaching the provider (a retry is due)."""
        return self.status is Status.CREATED or (
            self._unreceipted and self.attempt_started_at is None
        )

    @property
    def _unreceipted(self) -> bool:
        return self.status is Status.SENDING and self.provider_ref is None


@dataclasses.dataclass(frozen=True, slots=True)
class HistoryEntry:
    status: Status
    at: datetime
    source: str
    reason: str | None
    applied: bool


_COLUMNS = [notifications.c[f.name] for f in dataclasses.fields(Notification)]
_NEW_FIELDS = [f.name for f in dataclasses.fields(NewNotification)]


# Operations one flush takes at most (bounded by the database's bind-parameter limit).
MAX_BATCH = 500
# The kinds of operation decided in Python against the rows as read (``_changes``).
_DECIDED = frozenset({"record", "note"})


@dataclasses.dataclass(frozen=True, slots=True)
class _Op:
    """One queued store operation."""

    kind: str  # "read" | "create" | "record" | "intend" | "note"
    args: Any


@dataclasses.dataclass(frozen=True, slots=True)
class _Record:
    notification_id: str
    status: Status
    source: str
    reason: str | None
    provider_ref: str | None
    fragments: int | None
    pages: int | None
    attempt: bool


@dataclasses.dataclass(frozen=True, slots=True)
class _Note:
    notification_id: str
    source: str
    reason: str
    attempt: bool
    sent_nothing: bool = False


class NotificationStore:
    """Reads and writes notifications; every status change goes through ``record``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._batches: GroupCommit[_Op, Any] = GroupCommit(self._run, max_batch=MAX_BATCH)

    async def create(self, new: NewNotification) -> Notification | None:
        """Insert a notification with its first history entry; None if one already exists for the
        same event and channel (the unique constraint decides, so duplicates race safely)."""
        result: Notification | None = await self._submit("create", new)
        return result

    async def for_event(self, source: str, event_id: str) -> list[Notification]:
        """Every notification of one event (one per channel tried)."""
        result: list[Notification] = await self._submit("read", (source, event_id))
        return result

    async def get(self, notification_id: str) -> Notification | None:
        query = select(*_COLUMNS).where(notifications.c.id == notification_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return Notification.from_row(row) if row else None

    async def by_provider_ref(self, provider_ref: str) -> Notification | None:
        query = select(*_COLUMNS).where(notifications.c.provider_ref == provider_ref)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return Notification.from_row(row) if row else None

    async def in_status(
        self, status: Status, *, council: str, channels: Sequence[str], limit: int = 500
    ) -> list[Notification]:
        """Up to ``limit`` of a council's notifications in ``status`` on ``channels``, oldest
        first (what a provider without callbacks is polled for)."""
        query = (
            select(*_COLUMNS)
            .where(
                notifications.c.status == str(status),
                notifications.c.council == council,
                notifications.c.channel.in_(list(channels)),
            )
            .order_by(notifications.c.created_at)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [Notification.from_row(row) for row in rows]

    async def record(
        self,
        notification_id: str,
        status: Status,
        *,
        source: str,
        reason: str | None = None,
        provider_ref: str | None = None,
        fragments: int | None = None,
        pages: int | None = None,
        attempt: bool = False,
    ) -> bool:
        """Move a notification to ``status`` if the lifecycle allows it; the history keeps the
        report either way. True when the status changed."""
        op = _Record(
            notification_id, status, source, reason, provider_ref, fragments, pages, attempt
        )
        applied: bool = await self._submit("record", op)
        return applied

    async def intend(self, notification_id: str, *, source: str) -> bool:
        """Record, before the provider is called, that a send begins: ``created`` -> ``sending``
        with no provider reference and ``attempt_started_at`` = now. A row in any other status
        is left as it is (a resend after reconciling keeps the first intent's start time).
        True when the row is ``sending`` now, so the send may go ahead; False when it is not
        (a withdrawal or an erasure cancelled it since it was read)."""
        claimed: bool = await self._submit(
            "intend", _Note(notification_id, source, "intent", False)
        )
        return claimed

    async def note(
        self,
        notification_id: str,
        *,
        source: str,
        reason: str,
        attempt: bool = False,
        sent_nothing: bool = False,
    ) -> None:
        """Add a history entry that does not change the status (a retry scheduled, a delay).
        ``sent_nothing``: the failed attempt surely never reached the provider, so its intent
        is cleared and the retry sends without reconciling."""
        await self._submit("note", _Note(notification_id, source, reason, attempt, sent_nothing))

    async def _submit(self, kind: str, args: Any) -> Any:
        return await self._batches.submit(_Op(kind, args))

    async def _run(self, batch: Sequence[_Op]) -> list[Any]:
        async with self.engine.begin() as conn:
            if conn.dialect.name == "sqlite" and any(op.kind in _DECIDED for op in batch):
                # Python's sqlite3 begins a transaction only at the first write, so the rows
                # ``_changes`` reads could change before it writes them; take the database's
                # write lock first (https://www.sqlite.org/lang_transaction.html), as FOR UPDATE
                # holds the rows on PostgreSQL.
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            return await _apply(conn, batch)

    async def history(self, notification_id: str) -> list[HistoryEntry]:
        query = (
            select(
                status_history.c.status,
                status_history.c.at,
                status_history.c.source,
                status_history.c.reason,
                status_history.c.applied,
            )
            .where(status_history.c.notification_id == notification_id)
            .order_by(status_history.c.id)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            HistoryEntry(Status(r.status), aware(r.at), r.source, r.reason, bool(r.applied))
            for r in rows
        ]

    async def purge_personal_data(self, older_than: datetime) -> int:
        """Forget contact details of notifications created before ``older_than``."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(notifications)
                .where(notifications.c.created_at < older_than)
                .where(notifications.c.purged_at.is_(None))
                .values(recipient=None, kept_event=None, purged_at=utcnow())
            )
        return int(result.rowcount or 0)

    async def kept(self, notification_id: str) -> Kept | None:
        """The purge state and kept event of one notification; None when there is none."""
        query = select(notifications.c.purged_at, notifications.c.kept_event).where(
            notifications.c.id == notification_id
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return Kept(row.purged_at is not None, row.kept_event) if row else None

    async def purge_kept_events(self, created_before: datetime) -> int:
        """Forget the kept events of final notifications created before ``created_before``
        (the bounce window has passed: no bounce can continue them any more)."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(notifications)
                .where(notifications.c.kept_event.is_not(None))
                .where(notifications.c.created_at < created_before)
                .where(notifications.c.status.in_([str(s) for s in FINAL_STATUSES]))
                .values(kept_event=None)
            )
        return int(result.rowcount or 0)

    async def for_case(
        self, council: str, case_reference: str, *, limit: int | None = None, offset: int = 0
    ) -> Sequence[Notification]:
        """The notifications of one case of one council, newest first (a page of them, given
        ``limit`` and ``offset``)."""
        query = (
            select(*_COLUMNS)
            .where(notifications.c.council == council)
            .where(notifications.c.case_reference == case_reference)
            .order_by(notifications.c.created_at.desc(), notifications.c.id)
            .limit(limit)
            .offset(offset)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [Notification.from_row(r) for r in rows]

    async def in_print_batch(self, notification_ids: Sequence[str]) -> set[str]:
        """Which of these letters a print batch has claimed (too late to withdraw)."""
        if not notification_ids:
            return set()
        query = (
            select(letter_spool.c.notification_id)
            .where(letter_spool.c.notification_id.in_(notification_ids))
            .where(letter_spool.c.batch_id.is_not(None))
        )
        async with self.engine.connect() as conn:
            return set((await conn.execute(query)).scalars().all())

    async def waiting_for_customer(self, council: str, customer_id: str) -> list[Notification]:
        """The customer's notifications that nothing has been handed to a provider for yet
        (``Notification.waiting``): what an erasure cancels."""
        query = (
            select(*_COLUMNS)
            .where(notifications.c.council == council)
            .where(notifications.c.customer_id == customer_id)
            .where(notifications.c.status.in_([str(Status.CREATED), str(Status.SENDING)]))
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [n for n in map(Notification.from_row, rows) if n.waiting]

    async def for_customer(
        self, council: str, customer_id: str, *, limit: int = 100
    ) -> Sequence[Notification]:
        query = (
            select(*_COLUMNS)
            .where(notifications.c.council == council)
            .where(notifications.c.customer_id == customer_id)
            .order_by(notifications.c.created_at.desc())
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [Notification.from_row(r) for r in rows]


async def _apply(conn: AsyncConnection, batch: Sequence[_Op]) -> list[Any]:
    """Carry out ``batch`` in one transaction; one result (or exception) per operation."""
    now = utcnow()
    results: list[Any] = [None] * len(batch)
    history: list[dict[str, Any]] = []
    by_kind: dict[str, list[int]] = {
        "read": [],
        "create": [],
        "record": [],
        "intend": [],
        "note": [],
    }
    for index, op in enumerate(batch):
        by_kind[op.kind].append(index)
    if by_kind["read"]:
        await _reads(conn, batch, by_kind["read"], results)
    if by_kind["create"]:
        await _creates(conn, batch, by_kind["create"], results, history, now)
    if by_kind["intend"]:
        await _intents(conn, batch, by_kind["intend"], results, history, now)
    changes = sorted(by_kind["record"] + by_kind["note"])
    if changes:
        await _changes(conn, batch, changes, results, history, now)
    if history:
        await conn.execute(_HISTORY, history)
    return results


async def _reads(
    conn: AsyncConnection, batch: Sequence[_Op], indexes: list[int], results: list[Any]
) -> None:
    keys = {batch[i].args for i in indexes}
    postgresql = _is_postgresql(conn)
    found: dict[tuple[str, str], list[Notification]] = {key: [] for key in keys}
    bound = pairs_bound("b_keys", sorted(keys), postgresql=postgresql)
    for row in (await conn.execute(_by_events(postgresql), bound)).all():
        found[(row.event_source, row.event_id)].append(Notification.from_row(row))
    for i in indexes:
        results[i] = list(found[batch[i].args])


def _is_postgresql(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


# The flush's statements are built once for each dialect (functools.cache) and given their
# values at each execution: building one costs more than running it for a small batch.


@functools.cache
def _by_events(postgresql: bool) -> Select[Any]:
    """The notifications of the events bound as ``b_keys`` (``pairs_bound``)."""
    c = notifications.c
    return select(*_COLUMNS).where(
        pairs_among(c.event_source, c.event_id, "b_keys", postgresql=postgresql)
    )


@functools.cache
def _insert(postgresql: bool) -> Insert:
    """INSERT that skips rows the unique constraint already holds; RETURNING names the rest."""
    dialect_insert = postgresql_insert if postgresql else sqlite_insert
    return dialect_insert(notifications).on_conflict_do_nothing().returning(notifications.c.id)


async def _creates(
    conn: AsyncConnection,
    batch: Sequence[_Op],
    indexes: list[int],
    results: list[Any],
    history: list[dict[str, Any]],
    now: datetime,
) -> None:
    rows = []
    for i in indexes:
        new: NewNotification = batch[i].args
        rows.append(
            {name: getattr(new, name) for name in _NEW_FIELDS}  # asdict would deep-copy each
            | {
                "id": str(uuid.uuid4()),
                "status": str(new.status),
                "created_at": now,
                "updated_at": now,
                "attempts": 0,
                "attempt_started_at": None,
            }
        )
    # executemany (one cached statement, sent as multi-row INSERTs); RETURNING names the winners.
    inserted = set((await conn.execute(_insert(_is_postgresql(conn)), rows)).scalars().all())
    for i, values in zip(indexes, rows, strict=True):
        if values["id"] not in inserted:
            continue  # lost to an existing row (or to a copy earlier in this batch)
        new = batch[i].args
        history.append(_entry(values["id"], new.status, now, "worker", new.reason, True))
        results[i] = Notification.from_row(_Row({"provider_ref": None, **values}))


async def _changes(
    conn: AsyncConnection,
    batch: Sequence[_Op],
    indexes: list[int],
    results: list[Any],
    history: list[dict[str, Any]],
    now: datetime,
) -> None:
    """Records and notes, in the order they were asked for, against the rows' current status.

    The rows are read once and held until the flush commits (``FOR UPDATE`` on PostgreSQL; on
    SQLite the flush holds the database's write lock from its start, ``NotificationStore._run``),
    so each change is decided here from ``current`` and every one that writes goes into one
    executemany of ``_CHANGE``, whatever the batch holds."""
    ids = sorted({batch[i].args.notification_id for i in indexes})
    postgresql = _is_postgresql(conn)
    current = {
        row.id: _Current(Status(row.status), row.provider_ref, row.attempt_started_at is not None)
        for row in (await conn.execute(_current(postgresql), {"b_ids": ids})).all()
    }
    cancels = [
        batch[i].args.notification_id
        for i in indexes
        if isinstance(batch[i].args, _Record) and batch[i].args.status is Status.CANCELLED
    ]
    if cancels:  # a letter a print batch has claimed is too late to cancel (printhouse/spool.py)
        claimed = await conn.execute(_in_print_batch(postgresql), {"b_ids": cancels})
        for notification_id in claimed.scalars().all():
            was = current[notification_id]
            current[notification_id] = dataclasses.replace(was, in_print_batch=True)
    writes: list[dict[str, Any]] = []
    for i in indexes:
        op = batch[i].args
        state = current.get(op.notification_id)
        if isinstance(op, _Note):
            results[i] = _note(op, state, history, writes, now)
            if state is not None and op.attempt and op.sent_nothing:  # its intent is void now
                current[op.notification_id] = dataclasses.replace(state, started=False)
        else:
            results[i] = _record(op, state, history, writes, now)
            if results[i] and state is not None:
                ref = op.provider_ref or state.provider_ref
                current[op.notification_id] = _Current(
                    op.status, ref, state.started, state.in_print_batch
                )
    if writes:
        await conn.execute(_CHANGE, writes)


@functools.cache
def _current(postgresql: bool) -> Select[Any]:
    """The rows ``_changes`` decides from (``b_ids``), locked on PostgreSQL."""
    c = notifications.c
    query = select(c.id, c.status, c.provider_ref, c.attempt_started_at).where(
        among(c.id, "b_ids", postgresql=postgresql)
    )
    return query.with_for_update() if postgresql else query


@functools.cache
def _in_print_batch(postgresql: bool) -> Select[Any]:
    """Which of the letters bound as ``b_ids`` a print batch has claimed."""
    spooled = letter_spool.c
    return select(spooled.notification_id).where(
        among(spooled.notification_id, "b_ids", postgresql=postgresql),
        spooled.batch_id.is_not(None),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _Current:
    status: Status
    provider_ref: str | None
    started: bool  # an attempt's intent is recorded (attempt_started_at)
    in_print_batch: bool = False  # a letter a print batch has claimed (checked only for cancels)

    @property
    def handed_over(self) -> bool:
        """A send has begun or been received, or a print batch has the letter: too late to
        cancel (``Notification.waiting``)."""
        return (
            self.started
            or self.in_print_batch
            or (self.status is Status.SENDING and self.provider_ref is not None)
        )


async def _intents(
    conn: AsyncConnection,
    batch: Sequence[_Op],
    indexes: list[int],
    results: list[Any],
    history: list[dict[str, Any]],
    now: datetime,
) -> None:
    """Every intent of the batch in one UPDATE: rows with nothing at a provider (``created``, or
    ``sending`` after attempts that surely sent nothing) become ``sending`` with the attempt's
    start time; RETURNING names them for the history. Each intent's result says whether its
    row is ``sending`` now; only rows the UPDATE passed over (rare: a resend after reconciling,
    or a row cancelled since it was read) are read again to tell."""
    sources = {batch[i].args.notification_id: batch[i].args.source for i in indexes}
    postgresql = _is_postgresql(conn)
    bound = {"b_ids": sorted(sources), "b_at": now}
    claimed = set((await conn.execute(_intent(postgresql), bound)).scalars().all())
    for notification_id in claimed:
        source = sources[notification_id]
        history.append(_entry(notification_id, Status.SENDING, now, source, "intent", True))
    passed_over = sorted(set(sources) - claimed)
    if passed_over:
        sending = await conn.execute(_sending(postgresql), {"b_ids": passed_over})
        claimed |= set(sending.scalars().all())
    for i in indexes:
        results[i] = batch[i].args.notification_id in claimed


@functools.cache
def _intent(postgresql: bool) -> Update:
    """The intents' UPDATE of the rows bound as ``b_ids``, at ``b_at``."""
    c = notifications.c
    at = bindparam("b_at", type_=DateTime(timezone=True))
    return (
        update(notifications)
        .where(among(c.id, "b_ids", postgresql=postgresql))
        .where(
            or_(
                c.status == str(Status.CREATED),
                and_(
                    c.status == str(Status.SENDING),
                    c.provider_ref.is_(None),
                    c.attempt_started_at.is_(None),
                ),
            )
        )
        .values(status=str(Status.SENDING), attempt_started_at=at, updated_at=at)
        .returning(c.id)
    )


@functools.cache
def _sending(postgresql: bool) -> Select[Any]:
    """Which of the rows bound as ``b_ids`` are ``sending``."""
    c = notifications.c
    return select(c.id).where(
        among(c.id, "b_ids", postgresql=postgresql), c.status == str(Status.SENDING)
    )


def _note(
    op: _Note,
    state: _Current | None,
    history: list[dict[str, Any]],
    writes: list[dict[str, Any]],
    now: datetime,
) -> NoResultFound | None:
    if state is None:
        return NoResultFound(f"no notification {op.notification_id}")
    if op.attempt:
        writes.append(
            _write(
                op.notification_id,
                state.status,
                state.status,
                now,
                attempts=1,
                clear_started=op.sent_nothing,
            )
        )
    history.append(_entry(op.notification_id, state.status, now, op.source, op.reason, False))
    return None


def _record(
    op: _Record,
    state: _Current | None,
    history: list[dict[str, Any]],
    writes: list[dict[str, Any]],
    now: datetime,
) -> bool:
    if state is None:
        return False
    # The provider's receipt for a send whose intent made it ``sending``: the same status, now
    # with the provider's reference, is the change that counts (docs/events.md).
    receipt = (
        state.status is Status.SENDING
        and op.status is Status.SENDING
        and state.provider_ref is None
        and op.provider_ref is not None
    )
    applied = receipt or may_move(state.status, op.status)
    if op.status is Status.CANCELLED and state.handed_over:
        applied = False  # a send began since the canceller read the row: too late
    if applied:
        writes.append(
            _write(
                op.notification_id,
                state.status,
                op.status,
                now,
                attempts=int(op.attempt),
                reason=op.reason,
                provider_ref=op.provider_ref,
                fragments=op.fragments,
                pages=op.pages,
            )
        )
    history.append(_entry(op.notification_id, op.status, now, op.source, op.reason, applied))
    return applied


_HISTORY = insert(status_history)

_c = notifications.c
# The one statement every record and note of a flush is written with (an executemany, so one
# round trip and one prepared statement for any mix of them). A change names the status it was
# decided from (``b_from``: the row is locked, so it still holds); a value bound as None leaves
# its column as it was.
_CHANGE = (
    update(notifications)
    .where(_c.id == bindparam("b_id"), _c.status == bindparam("b_from"))
    .values(
        status=bindparam("b_status"),
        reason=func.coalesce(bindparam("b_reason", type_=String), _c.reason),
        provider_ref=func.coalesce(bindparam("b_provider_ref", type_=String), _c.provider_ref),
        fragments=func.coalesce(bindparam("b_fragments", type_=Integer), _c.fragments),
        pages=func.coalesce(bindparam("b_pages", type_=Integer), _c.pages),
        attempts=_c.attempts + bindparam("b_attempts", type_=Integer),
        attempt_started_at=case(
            (bindparam("b_clear_started", type_=Boolean), null()), else_=_c.attempt_started_at
        ),
        updated_at=bindparam("b_at", type_=DateTime(timezone=True)),
    )
)


def _write(
    notification_id: str,
    was: Status,
    status: Status,
    now: datetime,
    *,
    attempts: int,
    reason: str | None = None,
    provider_ref: str | None = None,
    fragments: int | None = None,
    pages: int | None = None,
    clear_started: bool = False,
) -> dict[str, Any]:
    """``_CHANGE``'s parameters for one change from ``was`` to ``status`` (the same status for a
    receipt or an attempt counted); None leaves a column as it is."""
    return {
        "b_id": notification_id,
        "b_from": str(was),
        "b_status": str(status),
        "b_reason": reason,
        "b_provider_ref": provider_ref,
        "b_fragments": fragments,
        "b_pages": pages,
        "b_attempts": attempts,
        "b_clear_started": clear_started,
        "b_at": now,
    }


def _entry(
    notification_id: str,
    status: Status,
    at: datetime,
    source: str,
    reason: str | None,
    applied: bool,
) -> dict[str, Any]:
    return {
        "notification_id": notification_id,
        "status": str(status),
        "at": at,
        "source": source,
        "reason": reason,
        "applied": applied,
    }


class _Row:
    """Attribute access over a dict, so a freshly inserted row builds like a fetched one."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
