"""Notification records and their status history."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.model import Status, may_move
from notifier.store.tables import notifications, status_history


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

    @classmethod
    def from_row(cls, row: Any) -> Notification:
        values = {f.name: getattr(row, f.name) for f in dataclasses.fields(cls)}
        values["status"] = Status(values["status"])
        for key in ("created_at", "updated_at"):
            values[key] = aware(values[key])
        return cls(**values)


@dataclasses.dataclass(frozen=True, slots=True)
class HistoryEntry:
    status: Status
    at: datetime
    source: str
    reason: str | None
    applied: bool


_COLUMNS = [notifications.c[f.name] for f in dataclasses.fields(Notification)]


class NotificationStore:
    """Reads and writes notifications; every status change goes through ``record``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self, new: NewNotification) -> Notification | None:
        """Insert a notification with its first history entry; None if one already exists for the
        same event and channel (the unique constraint decides, so duplicates race safely)."""
        now = utcnow()
        values = dataclasses.asdict(new) | {
            "id": str(uuid.uuid4()),
            "status": str(new.status),
            "created_at": now,
            "updated_at": now,
            "attempts": 0,
        }
        try:
            async with self.engine.begin() as conn:
                await conn.execute(insert(notifications).values(values))
                await _history(conn, values["id"], new.status, now, "worker", new.reason, True)
        except IntegrityError:
            return None
        return Notification.from_row(_Row({"provider_ref": None, **values}))

    async def for_event(self, source: str, event_id: str) -> list[Notification]:
        """Every notification of one event (one per channel tried)."""
        query = select(*_COLUMNS).where(
            and_(notifications.c.event_source == source, notifications.c.event_id == event_id)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [Notification.from_row(r) for r in rows]

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
        now = utcnow()
        async with self.engine.begin() as conn:
            current = (
                await conn.execute(
                    select(notifications.c.status).where(notifications.c.id == notification_id)
                )
            ).scalar_one_or_none()
            if current is None:
                return False
            applied = may_move(Status(current), status)
            if applied:
                changes: dict[str, Any] = {"status": str(status), "updated_at": now}
                if reason is not None:
                    changes["reason"] = reason
                if provider_ref is not None:
                    changes["provider_ref"] = provider_ref
                if fragments is not None:
                    changes["fragments"] = fragments
                if pages is not None:
                    changes["pages"] = pages
                if attempt:
                    changes["attempts"] = notifications.c.attempts + 1
                result = await conn.execute(
                    update(notifications)
                    .where(notifications.c.id == notification_id)
                    .where(notifications.c.status == current)
                    .values(changes)
                )
                applied = result.rowcount == 1
            await _history(conn, notification_id, status, now, source, reason, applied)
        return applied

    async def note(
        self, notification_id: str, *, source: str, reason: str, attempt: bool = False
    ) -> None:
        """Add a history entry that does not change the status (a retry scheduled, a delay)."""
        now = utcnow()
        async with self.engine.begin() as conn:
            current = (
                await conn.execute(
                    select(notifications.c.status).where(notifications.c.id == notification_id)
                )
            ).scalar_one()
            if attempt:
                await conn.execute(
                    update(notifications)
                    .where(notifications.c.id == notification_id)
                    .values(attempts=notifications.c.attempts + 1, updated_at=now)
                )
            await _history(conn, notification_id, Status(current), now, source, reason, False)

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
                .values(recipient=None, purged_at=utcnow())
            )
        return int(result.rowcount or 0)

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


async def _history(
    conn: AsyncConnection,
    notification_id: str,
    status: Status,
    at: datetime,
    source: str,
    reason: str | None,
    applied: bool,
) -> None:
    await conn.execute(
        insert(status_history).values(
            notification_id=notification_id,
            status=str(status),
            at=at,
            source=source,
            reason=reason,
            applied=applied,
        )
    )


class _Row:
    """Attribute access over a dict, so a freshly inserted row builds like a fetched one."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
