"""Customer records and preferences in the database (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import time
from typing import Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.model import Channel
from notifier.preferences.model import Preferences
from notifier.store.notifications import utcnow
from notifier.store.tables import customer_audit, customers


def _time(text: str | None) -> time | None:
    return time.fromisoformat(text) if text else None


def _to_preferences(row: Any) -> Preferences:
    start, end = _time(row.quiet_hours_start), _time(row.quiet_hours_end)
    return Preferences(
        council=row.council,
        customer_id=row.customer_id,
        name=row.name,
        email=row.email,
        mobile=row.mobile,
        address=tuple(row.address) if row.address else None,
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
        "mobile": p.mobile,
        "address": list(p.address) if p.address else None,
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


class PreferenceStore:
    """Reads and writes customers; every change leaves an audit entry naming the fields."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def get(self, council: str, customer_id: str) -> Preferences | None:
        query = select(customers).where(
            and_(customers.c.council == council, customers.c.customer_id == customer_id)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return _to_preferences(row) if row else None

    async def put(self, preferences: Preferences, *, actor: str) -> bool:
        """Create or replace a customer; True when created."""
        assert preferences.customer_id is not None
        key = {"council": preferences.council, "customer_id": preferences.customer_id}
        values = _to_row(preferences)
        now = utcnow()
        async with self.engine.begin() as conn:
            existing = (
                await conn.execute(
                    select(customers)
                    .where(and_(*(customers.c[k] == v for k, v in key.items())))
                    .with_for_update()
                )
            ).first()
            if existing is None:
                await conn.execute(
                    insert(customers).values(**key, **values, created_at=now, updated_at=now)
                )
                changed = sorted(values)
            else:
                changed = sorted(k for k, v in values.items() if getattr(existing, k) != v)
                if changed:
                    await conn.execute(
                        update(customers)
                        .where(and_(*(customers.c[k] == v for k, v in key.items())))
                        .values(**values, updated_at=now)
                    )
            if changed:
                await _audit(conn, key, actor, "create" if existing is None else "update", changed)
        return existing is None

    async def erase(self, council: str, customer_id: str, *, actor: str) -> bool:
        """Remove a customer's contact details and preferences (UK GDPR erasure)."""
        key = {"council": council, "customer_id": customer_id}
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(customers).where(and_(*(customers.c[k] == v for k, v in key.items())))
            )
            if result.rowcount:
                await _audit(conn, key, actor, "erase", ["all"])
        return bool(result.rowcount)

    async def opt_out_sms(self, mobiles: Iterable[str], *, opted_out: bool, actor: str) -> int:
        """Record a STOP (or START) for every customer with one of these numbers."""
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
                    .where(customers.c.council == row.council)
                    .where(customers.c.customer_id == row.customer_id)
                    .values(sms_opted_out=opted_out, updated_at=now)
                )
                await _audit(conn, row._asdict(), actor, "update", ["sms_opted_out"])
        return len(rows)


async def _audit(
    conn: AsyncConnection, key: dict[str, Any], actor: str, action: str, fields: list[str]
) -> None:
    await conn.execute(
        insert(customer_audit).values(**key, at=utcnow(), actor=actor, action=action, fields=fields)
    )
