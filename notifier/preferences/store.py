"""Customer records and preferences in the database (SQLite or PostgreSQL)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, time
from typing import Any

from sqlalchemy import Select, and_, bindparam, delete, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.model import Channel
from notifier.preferences.model import Preferences
from notifier.store.batching import GroupCommit
from notifier.store.database import pairs_among, pairs_bound, without_transaction
from notifier.store.notifications import aware, utcnow
from notifier.store.tables import customer_audit, customers, notifications, scheduled_events

# Rows per statement and per transaction in a bulk write: well under SQLite's bound-parameter
# limit for the IN list, and small enough that a failure loses little work.
BATCH = 500


@dataclasses.dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change to a customer: when, by whom (a person or a system) and which fields; never
    the values, old or new."""

    at: datetime
    actor: str
    action: str
    fields: tuple[str, ...]


def _time(text: str | None) -> time | None:
    return time.fromisoformat(text) if text else None


def _to_preferences(row: Any) -> Preferences:
    start, end = _time(row.quiet_hours_start), _time(row.quiet_hours_end)
    return Preferences(
        council=row.council,
        customer_id=row.customer_id,
        name=row.name,
        email=row.email,
        email_verified=bool(row.email_verified),
        mobile=row.mobile,
        mobile_verified=bool(row.mobile_verified),
        address=tuple(row.address) if row.address else None,
        address_verified=bool(row.address_verified),
        channel_order=tuple(Channel(c) for c in row.channel_order),
        topic_opt_outs=frozenset(row.topic_opt_outs or ()),
        sms_opted_out=bool(row.sms_opted_out),
        quiet_hours=(start, end) if start and end else None,
        language=row.language,
        accessible_format=row.accessible_format,
        do_not_contact=bool(row.do_not_contact),
        deceased=bool(row.deceased),
        stored=True,
    )


def _to_row(p: Preferences) -> dict[str, Any]:
    return {
        "name": p.name,
        "email": p.email,
        "email_verified": p.email_verified,
        "mobile": p.mobile,
        "mobile_verified": p.mobile_verified,
        "address": list(p.address) if p.address else None,
        "address_verified": p.address_verified,
        "channel_order": [str(c) for c in p.channel_order],
        "topic_opt_outs": sorted(p.topic_opt_outs),
        "sms_opted_out": p.sms_opted_out,
        "quiet_hours_start": p.quiet_hours[0].strftime("%H:%M") if p.quiet_hours else None,
        "quiet_hours_end": p.quiet_hours[1].strftime("%H:%M") if p.quiet_hours else None,
        "language": p.language,
        "accessible_format": p.accessible_format,
        "do_not_contact": p.do_not_contact,
        "deceased": p.deceased,
    }


def _key(council: str, customer_id: str) -> Any:
    return and_(customers.c.council == council, customers.c.customer_id == customer_id)


@functools.cache
def _by_keys(postgresql: bool) -> Select[Any]:
    """The customers bound as ``b_keys`` (``pairs_bound``), built once for each dialect."""
    c = customers.c
    return select(customers).where(
        pairs_among(c.council, c.customer_id, "b_keys", postgresql=postgresql)
    )


def _changed(existing: Any, values: dict[str, Any]) -> list[str]:
    return sorted(k for k, v in values.items() if getattr(existing, k) != v)


class PreferenceStore:
    """Reads and writes customers; every change leaves an audit entry naming the fields."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._reader = without_transaction(engine)
        # The worker reads a customer per event: concurrent reads share one query.
        self._reads: GroupCommit[tuple[str, str], Preferences | None] = GroupCommit(
            self._read_batch, max_batch=BATCH
        )

    async def get(self, council: str, customer_id: str) -> Preferences | None:
        """A customer's preferences, read at the moment of asking (at send time)."""
        return await self._reads.submit((council, customer_id))

    async def _read_batch(self, keys: Sequence[tuple[str, str]]) -> list[Preferences | None]:
        async with self._reader.connect() as conn:
            postgresql = conn.dialect.name == "postgresql"
            bound = pairs_bound("b_keys", sorted(set(keys)), postgresql=postgresql)
            rows = (await conn.execute(_by_keys(postgresql), bound)).all()
        found = {(row.council, row.customer_id): _to_preferences(row) for row in rows}
        return [found.get(key) for key in keys]

    async def get_many(self, council: str, customer_ids: Sequence[str]) -> dict[str, Preferences]:
        """The stored customers among ``customer_ids``, by id."""
        found: dict[str, Preferences] = {}
        async with self.engine.connect() as conn:
            for start in range(0, len(customer_ids), BATCH):
                query = (
                    select(customers)
                    .where(customers.c.council == council)
                    .where(customers.c.customer_id.in_(customer_ids[start : start + BATCH]))
                )
                for row in (await conn.execute(query)).all():
                    found[row.customer_id] = _to_preferences(row)
        return found

    async def put(self, preferences: Preferences, *, actor: str) -> bool:
        """Create or replace a customer; True when created."""
        created, _ = await self.put_many([preferences], actor=actor)
        return created == 1

    async def put_many(self, batch: Sequence[Preferences], *, actor: str) -> tuple[int, int]:
        """Create or replace many customers of any councils, a few hundred per statement;
        returns (created, replaced). Unchanged customers are left alone and not audited."""
        created = replaced = 0
        for start in range(0, len(batch), BATCH):
            chunk = {(p.council, p.customer_id): p for p in batch[start : start + BATCH]}
            async with self.engine.begin() as conn:
                c, r = await _put_chunk(conn, chunk, actor)
            created, replaced = created + c, replaced + r
        return created, replaced

    async def update(
        self,
        council: str,
        customer_id: str,
        change: Callable[[Preferences], Preferences],
        *,
        actor: str,
    ) -> tuple[Preferences, Preferences] | None:
        """Apply ``change`` to a stored customer inside one transaction (so two changes at once
        cannot lose either); (before, after), or None when there is no such customer."""
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    select(customers).where(_key(council, customer_id)).with_for_update()
                )
            ).first()
            if row is None:
                return None
            before = _to_preferences(row)
            after = change(before)
            values = _to_row(after)
            changed = _changed(row, values)
            if changed:
                await conn.execute(
                    update(customers)
                    .where(_key(council, customer_id))
                    .values(**values, updated_at=utcnow())
                )
                await _audit(conn, [(council, customer_id, "update", changed)], actor)
        return before, after

    async def erase(self, council: str, customer_id: str, *, actor: str) -> bool:
        """UK GDPR erasure: remove the customer's contact details and preferences, the contact
        details kept with their notifications (whose history stays), and the events kept in
        the database until their ``send_after`` time (the caller cancels those notifications
        first). True when there was anything to erase."""
        now = utcnow()
        theirs = (
            select(notifications.c.event_source, notifications.c.event_id)
            .where(notifications.c.council == council)
            .where(notifications.c.customer_id == customer_id)
        )
        async with self.engine.begin() as conn:
            removed = await conn.execute(delete(customers).where(_key(council, customer_id)))
            unscheduled = await conn.execute(
                delete(scheduled_events)
                .where(scheduled_events.c.council == council)
                .where(
                    tuple_(scheduled_events.c.event_source, scheduled_events.c.event_id).in_(theirs)
                )
            )
            blanked = await conn.execute(
                update(notifications)
                .where(notifications.c.council == council)
                .where(notifications.c.customer_id == customer_id)
                .where(
                    notifications.c.recipient.is_not(None)
                    | notifications.c.kept_event.is_not(None)
                    | notifications.c.purged_at.is_(None)
                )
                .values(
                    recipient=None,
                    kept_event=None,
                    purged_at=func.coalesce(notifications.c.purged_at, now),
                )
            )
            erased = bool(removed.rowcount or blanked.rowcount or unscheduled.rowcount)
            if erased:
                await _audit(conn, [(council, customer_id, "erase", ["all"])], actor)
        return erased

    async def opt_out_sms(self, mobiles: Iterable[str], *, opted_out: bool, actor: str) -> int:
        """Record a STOP (or START) for every customer with one of these numbers (E.164)."""
        numbers = list(mobiles)
        now = utcnow()
        async with self.engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(customers.c.council, customers.c.customer_id).where(
                        customers.c.mobile.in_(numbers)
                    )
                )
            ).all()
            for row in rows:
                await conn.execute(
                    update(customers)
                    .where(_key(row.council, row.customer_id))
                    .values(sms_opted_out=opted_out, updated_at=now)
                )
            await _audit(
                conn, [(r.council, r.customer_id, "update", ["sms_opted_out"]) for r in rows], actor
            )
        return len(rows)

    async def audit_trail(self, council: str, customer_id: str) -> list[AuditEntry]:
        """Every recorded change to one customer, oldest first."""
        query = (
            select(
                customer_audit.c.at,
                customer_audit.c.actor,
                customer_audit.c.action,
                customer_audit.c.fields,
            )
            .where(customer_audit.c.council == council)
            .where(customer_audit.c.customer_id == customer_id)
            .order_by(customer_audit.c.id)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [AuditEntry(aware(r.at), r.actor, r.action, tuple(r.fields)) for r in rows]


async def _put_chunk(
    conn: AsyncConnection, chunk: dict[tuple[str, str | None], Preferences], actor: str
) -> tuple[int, int]:
    existing = {
        (row.council, row.customer_id): row
        for row in (
            await conn.execute(
                select(customers)
                .where(tuple_(customers.c.council, customers.c.customer_id).in_(list(chunk)))
                .with_for_update()
            )
        ).all()
    }
    now = utcnow()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    audit: list[tuple[str, str, str, list[str]]] = []
    for (council, customer_id), preferences in chunk.items():
        assert customer_id is not None
        values = _to_row(preferences)
        row = existing.get((council, customer_id))
        if row is None:
            inserts.append(
                {
                    "council": council,
                    "customer_id": customer_id,
                    **values,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            audit.append((council, customer_id, "create", sorted(values)))
        elif changed := _changed(row, values):
            updates.append(
                {"k_council": council, "k_customer_id": customer_id, **values, "updated_at": now}
            )
            audit.append((council, customer_id, "update", changed))
    if inserts:
        await conn.execute(insert(customers), inserts)
    if updates:
        # The SET clause comes from the parameter names that are columns; k_* pick the row.
        statement = (
            update(customers)
            .where(customers.c.council == bindparam("k_council"))
            .where(customers.c.customer_id == bindparam("k_customer_id"))
        )
        await conn.execute(statement, updates)
    await _audit(conn, audit, actor)
    return len(inserts), len(existing)


async def _audit(
    conn: AsyncConnection, entries: Sequence[tuple[str, str, str, list[str]]], actor: str
) -> None:
    if not entries:
        return
    at = utcnow()
    await conn.execute(
        insert(customer_audit),
        [
            {
                "council": council,
                "customer_id": customer_id,
                "at": at,
                "actor": actor,
                "action": action,
                "fields": fields,
            }
            for council, customer_id, action, fields in entries
        ],
    )
