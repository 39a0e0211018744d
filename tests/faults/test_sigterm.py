"""SIGTERM under load: in-flight work finished or returned, exit 0, a restart finishes the rest."""

from __future__ import annotations

import signal

import pytest

from tests.faults.harness import World, accepted, exit_code, mixed, until

pytestmark = pytest.mark.faults


async def test_sigterm_under_load_exits_zero_and_a_restart_finishes_the_rest(
    world: World,
) -> None:
    """SIGTERM with 200 events in flight: the worker stops consuming, finishes (or returns)
    what it holds, exits 0; a new worker sends the rest, each event once."""
    first = world.service()
    first.start()
    await first.wait_ready()
    ids = await world.publish(mixed(800))
    await until(lambda: accepted(world.sinks) >= 100, 60, "100 notifications accepted")
    first.signal(signal.SIGTERM)
    assert await exit_code(first, 30) == 0
    assert "service.stopped" in first.logs()
    assert "worker.abandoned" not in first.logs()
    stopped_at = accepted(world.sinks)
    assert stopped_at < 800, "the worker finished before it was stopped"

    second = world.service()
    second.start()
    await second.wait_ready()
    tally = await world.settled(ids, timeout=120)
    world.report(f"SIGTERM under load (stopped after {stopped_at})", tally)
    assert tally.lost == []
    assert tally.notified == 800 and tally.dead == 0 and tally.duplicated == 0
