"""The database connections killed again and again mid-stream: no ack without a durable record."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from tests.faults.harness import PG_ADMIN, World, accepted, mixed, until

pytestmark = pytest.mark.faults


async def test_database_connections_terminated_repeatedly_nothing_lost(world: World) -> None:
    """For four seconds every backend of the worker's database is terminated five times a
    second; events that could not be recorded go round the delay queues, and in the end every
    event is notified with a durable record (an ack without one would show as lost)."""
    service = world.service()
    service.start()
    await service.wait_ready()
    ids = await world.publish(mixed(500))
    await until(lambda: accepted(world.sinks) >= 50, 60, "50 notifications accepted")
    admin = await asyncpg.connect(PG_ADMIN)
    terminated = 0
    try:
        stop = time.monotonic() + 4
        while time.monotonic() < stop:
            terminated += await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                world.database,
            )
            await asyncio.sleep(0.2)  # the fault's rhythm, not a wait for a result
    finally:
        await admin.close()
    assert terminated > 0
    tally = await world.settled(ids, timeout=120)
    world.report(f"database backends terminated ({terminated})", tally)
    assert tally.lost == []
    assert tally.notified == 500 and tally.dead == 0
    assert service.process is not None and service.process.poll() is None
