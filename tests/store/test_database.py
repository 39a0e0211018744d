"""The SQL the two databases differ in: ``among`` and ``pairs_among`` (the same rows as an IN
list on both, and on PostgreSQL one statement text whatever the number of values, so asyncpg
prepares it once) and ``without_transaction`` (reads that are a transaction each)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.store.database import among, pairs_among, pairs_bound, without_transaction
from notifier.store.tables import notifications

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
c = notifications.c


def postgresql(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


async def stored(engine: AsyncEngine, count: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert(notifications),
            [
                {
                    "id": f"n{k}",
                    "event_source": f"/councils/sdc/{k % 3}",
                    "event_id": f"e{k}",
                    "event_type": "planning.application.received",
                    "council": "sdc",
                    "channel": "sms",
                    "status": "created",
                    "attempts": 0,
                    "created_at": AT,
                    "updated_at": AT,
                }
                for k in range(count)
            ],
        )


async def test_among_finds_the_rows_of_any_number_of_values_with_one_statement(
    engine: AsyncEngine,
) -> None:
    """The rows whose id is bound, none for an empty list; on PostgreSQL every length is sent
    as the same statement."""
    await stored(engine, 60)
    query = select(c.id).where(among(c.id, "ids", postgresql=postgresql(engine)))
    sent: list[str] = []

    def seen(*args: Any) -> None:
        sent.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    async with engine.connect() as conn:
        for wanted in ([], ["n1"], ["n2", "n3", "missing"], [f"n{k}" for k in range(0, 60, 2)]):
            found = set((await conn.execute(query, {"ids": wanted})).scalars().all())
            assert found == set(wanted) - {"missing"}
    event.remove(engine.sync_engine, "before_cursor_execute", seen)
    if postgresql(engine):
        assert len(set(sent)) == 1 and "ANY" in sent[0]


async def test_pairs_among_matches_both_columns_together(engine: AsyncEngine) -> None:
    """A row matches only when both of its values are one bound pair (not each in some pair);
    on PostgreSQL one statement for any number of pairs."""
    await stored(engine, 9)
    pg = postgresql(engine)
    query = select(c.id).where(pairs_among(c.event_source, c.event_id, "keys", postgresql=pg))
    sent: list[str] = []

    def seen(*args: Any) -> None:
        sent.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    async with engine.connect() as conn:
        pairs = [("/councils/sdc/1", "e1"), ("/councils/sdc/2", "e5"), ("/councils/sdc/0", "e1")]
        found = await conn.execute(query, pairs_bound("keys", pairs, postgresql=pg))
        assert set(found.scalars().all()) == {"n1", "n5"}
        found = await conn.execute(query, pairs_bound("keys", [], postgresql=pg))
        assert found.scalars().all() == []
    event.remove(engine.sync_engine, "before_cursor_execute", seen)
    if pg:
        assert len(set(sent)) == 1 and "unnest" in sent[0]


async def test_reads_without_a_transaction_are_each_their_own(engine: AsyncEngine) -> None:
    """On PostgreSQL each statement of ``without_transaction``'s connections is a transaction of
    its own (no BEGIN and ROLLBACK around it), where a plain connection holds one across them;
    SQLite's engine is returned as it is."""
    reader = without_transaction(engine)
    if engine.dialect.name != "postgresql":
        assert reader is engine
        return
    current = text("SELECT txid_current()")
    async with reader.connect() as conn:
        assert (await conn.execute(current)).scalar() != (await conn.execute(current)).scalar()
    async with engine.connect() as conn:
        assert (await conn.execute(current)).scalar() == (await conn.execute(current)).scalar()
