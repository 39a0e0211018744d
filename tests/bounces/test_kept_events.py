"""The event kept with an email notification: purged after the bounce window, with the
retention purge, and on erasure (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.model import Status
from notifier.store.tables import notifications
from tests.bounces.rig import make_rig


async def test_bounce_window_purges_kept_events_of_final_notifications_only(
    engine: AsyncEngine,
) -> None:
    """Past the window a sent email forgets its event; one still waiting keeps it."""
    rig = make_rig(engine)
    sent = await rig.sent_email()
    waiting = await rig.sent_email()
    async with engine.begin() as conn:
        await conn.execute(
            update(notifications)
            .where(notifications.c.id == waiting.id)
            .values(status=str(Status.CREATED))
        )
    future = datetime.now(UTC) + timedelta(hours=1)
    assert await rig.notifications.purge_kept_events(future) == 1
    assert (await rig.notifications.kept(sent.id)).event is None  # type: ignore[union-attr]
    assert (await rig.notifications.kept(waiting.id)).event is not None  # type: ignore[union-attr]
    assert await rig.notifications.purge_kept_events(datetime.now(UTC) - timedelta(hours=1)) == 0


async def test_retention_purge_and_erasure_forget_the_kept_event(engine: AsyncEngine) -> None:
    """The retention purge and a customer's erasure both blank the kept event."""
    rig = make_rig(engine)
    old = await rig.sent_email(customer_id="SDC-K1")
    erased = await rig.sent_email(customer_id="SDC-K2")
    await rig.notifications.purge_personal_data(datetime.now(UTC) + timedelta(seconds=1))
    kept = await rig.notifications.kept(old.id)
    assert kept is not None and kept.purged and kept.event is None
    rig2 = make_rig(engine)
    again = await rig2.sent_email(customer_id="SDC-K2")
    assert await rig.preferences.erase("sdc", "SDC-K2", actor="test")
    for row in (erased, again):
        kept = await rig.notifications.kept(row.id)
        assert kept is not None and kept.event is None
