"""Reading notifications back for operations: one in full, or those of an event, a case or a
customer (``notifier notifications show`` and ``find``; docs/operations.md, "Tracing one
message"). Contact details are read only on request and only within the retention period."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.store.notifications import HistoryEntry, Notification, NotificationStore, aware
from notifier.store.tables import notifications

# At most this many rows from ``find``: a customer of many years is still one screen or two.
FIND_LIMIT = 200

_COLUMNS = [notifications.c[f.name] for f in dataclasses.fields(Notification)]


@dataclasses.dataclass(frozen=True, slots=True)
class Trace:
    """One notification with what operations ask about it."""

    notification: Notification
    history: list[HistoryEntry]
    # The other notifications of the same event: the channels tried before or after this one.
    siblings: list[Notification]
    postage: str | None
    fragments: int | None
    pages: int | None


async def trace(store: NotificationStore, notification_id: str) -> Trace | None:
    """Everything about one notification but its contact details; None for an unknown id."""
    row = await store.get(notification_id)
    if row is None:
        return None
    query = select(notifications.c.postage, notifications.c.fragments, notifications.c.pages).where(
        notifications.c.id == notification_id
    )
    async with store.engine.connect() as conn:
        extra = (await conn.execute(query)).one()
    siblings = await _rows(
        store.engine,
        select(*_COLUMNS)
        .where(notifications.c.event_source == row.event_source)
        .where(notifications.c.event_id == row.event_id)
        .order_by(notifications.c.created_at, notifications.c.id),
    )
    return Trace(
        notification=row,
        history=await store.history(notification_id),
        siblings=[s for s in siblings if s.id != row.id],
        postage=extra.postage,
        fragments=extra.fragments,
        pages=extra.pages,
    )


async def contact(
    engine: AsyncEngine, notification_id: str, *, retention_days: int, now: datetime
) -> str | None:
    """The contact detail the notification was sent to, while it is within the retention
    period and not yet purged; None otherwise."""
    query = select(
        notifications.c.recipient, notifications.c.purged_at, notifications.c.created_at
    ).where(notifications.c.id == notification_id)
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None or row.recipient is None or row.purged_at is not None:
        return None
    if aware(row.created_at) < now - timedelta(days=retention_days):
        return None
    return str(row.recipient)


async def find(
    engine: AsyncEngine,
    *,
    event_id: str | None = None,
    council: str | None = None,
    case_reference: str | None = None,
    customer_id: str | None = None,
) -> list[Notification]:
    """Notifications matching every criterion given, oldest first, at most ``FIND_LIMIT``."""
    query = select(*_COLUMNS)
    if event_id is not None:
        query = query.where(notifications.c.event_id == event_id)
    if council is not None:
        query = query.where(notifications.c.council == council)
    if case_reference is not None:
        query = query.where(notifications.c.case_reference == case_reference)
    if customer_id is not None:
        query = query.where(notifications.c.customer_id == customer_id)
    query = query.order_by(notifications.c.created_at, notifications.c.id).limit(FIND_LIMIT)
    return await _rows(engine, query)


async def _rows(engine: AsyncEngine, query: Select[Any]) -> list[Notification]:
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [Notification.from_row(r) for r in rows]
