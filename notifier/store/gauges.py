"""Cheap counts and timings of the store for the service's gauges: the database's round trip
and where the letters stand in the print hand-over (docs/operations.md, "Metrics")."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import and_, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.model import Channel, Status
from notifier.store.tables import letter_batches, letter_spool, notifications

HANDED_OVER = "handed-over"


async def round_trip(engine: AsyncEngine) -> float | None:
    """Seconds the database took to answer ``SELECT 1`` on a pooled connection; None when it
    did not answer."""
    try:
        async with engine.connect() as connection:
            started = time.perf_counter()
            await connection.execute(text("SELECT 1"))
            return time.perf_counter() - started
    except Exception:
        return None


async def letter_counts(engine: AsyncEngine) -> dict[str, int]:
    """Letters waiting for a batch, in a batch not yet handed over, handed over but not yet
    posted, posted and returned (the last three by the notification's status)."""
    waiting = (
        select(func.count())
        .select_from(letter_spool.join(notifications))
        .where(and_(letter_spool.c.batch_id.is_(None), notifications.c.status == Status.CREATED))
    )
    batched = (
        select(func.count())
        .select_from(letter_spool.join(letter_batches))
        .where(letter_batches.c.state != HANDED_OVER)
    )
    by_status = (
        select(notifications.c.status, func.count())
        .where(
            and_(
                notifications.c.channel == str(Channel.LETTER),
                notifications.c.status.in_(
                    [str(Status.SENDING), str(Status.POSTED), str(Status.RETURNED)]
                ),
            )
        )
        .group_by(notifications.c.status)
    )
    async with engine.connect() as connection:
        counts = {
            "waiting": int((await connection.execute(waiting)).scalar_one()),
            "batched": int((await connection.execute(batched)).scalar_one()),
        }
        statuses = {str(row[0]): int(row[1]) for row in await connection.execute(by_status)}
    counts[HANDED_OVER] = statuses.get(str(Status.SENDING), 0)
    counts["posted"] = statuses.get(str(Status.POSTED), 0)
    counts["returned"] = statuses.get(str(Status.RETURNED), 0)
    return counts


async def oldest_handed_over(engine: AsyncEngine) -> datetime | None:
    """When the longest-waiting letter with the print house (``sending``, not yet reported
    posted or returned) was handed over; None when there is none."""
    query = select(func.min(notifications.c.updated_at)).where(
        and_(
            notifications.c.channel == str(Channel.LETTER),
            notifications.c.status == str(Status.SENDING),
        )
    )
    async with engine.connect() as connection:
        at: datetime | None = (await connection.execute(query)).scalar_one()
    if at is None:
        return None
    # SQLite hands back naive datetimes; every time the store writes is UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
