"""Events kept until their send time (``data.send_after``) when that is further off than the
broker should hold a message, and their release back onto the work queue.

Release is safe from every worker at once: the due rows are claimed and deleted in the
transaction that publishes them (``DELETE ... RETURNING``; PostgreSQL skips rows another worker
has locked), so a row is released by one worker; if publishing fails, the transaction rolls back
and the rows wait for the next run. A worker that dies after publishing but before committing
releases the event again later: the work queue's replay path then finds the notification and
does not create another.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.store.notifications import utcnow
from notifier.store.tables import scheduled_events


@dataclasses.dataclass(frozen=True, slots=True)
class ScheduledEvent:
    """One kept event: as published, with the time it is due."""

    event_source: str
    event_id: str
    council: str
    due_at: datetime
    body: bytes
    content_type: str | None


class ScheduledStore:
    """Keeps events until they are due, then hands them to a publisher once."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def keep(self, event: ScheduledEvent) -> None:
        """Keep ``event`` until its time; keeping the same event again changes nothing."""
        values = dataclasses.asdict(event) | {"created_at": utcnow()}
        async with self.engine.begin() as conn:
            insert = (
                postgresql.insert(scheduled_events)
                if conn.dialect.name == "postgresql"
                else sqlite.insert(scheduled_events)
            )
            await conn.execute(insert.values(values).on_conflict_do_nothing())

    async def release_due(
        self,
        now: datetime,
        publish: Callable[[ScheduledEvent], Awaitable[None]],
        *,
        limit: int = 500,
    ) -> int:
        """Publish (and forget) up to ``limit`` events due by ``now``; how many were released."""
        due = (
            select(scheduled_events.c.event_source, scheduled_events.c.event_id)
            .where(scheduled_events.c.due_at <= now)
            .order_by(scheduled_events.c.due_at)
            .limit(limit)
        )
        async with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            claimed = (
                await conn.execute(
                    delete(scheduled_events)
                    .where(
                        tuple_(scheduled_events.c.event_source, scheduled_events.c.event_id).in_(
                            due
                        )
                    )
                    .returning(*scheduled_events.c)
                )
            ).all()
            for row in sorted(claimed, key=lambda r: r.due_at):
                await publish(
                    ScheduledEvent(
                        row.event_source,
                        row.event_id,
                        row.council,
                        row.due_at,
                        row.body,
                        row.content_type,
                    )
                )
        return len(claimed)

    async def waiting(self) -> int:
        """How many events are kept (for metrics and tests)."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(scheduled_events.c.event_id))).all()
        return len(rows)
