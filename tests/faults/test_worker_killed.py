"""The worker SIGKILLed with 1,000 events in flight, then restarted: nothing lost."""

from __future__ import annotations

import signal

import pytest

from tests.faults.harness import World, accepted, exit_code, mixed, until

pytestmark = pytest.mark.faults


async def test_sigkill_with_1000_in_flight_then_restart_loses_nothing(world: World) -> None:
    """With all 1,000 events delivered to the worker unacked, SIGKILL it mid-stream; a restarted
    worker notifies every event, and duplicate sends (accepted, not yet recorded) are counted."""
    first = world.service(NOTIFIER_PREFETCH="1000", NOTIFIER_CONCURRENCY="1000")
    first.start()
    await first.wait_ready()
    ids = await world.publish(mixed(1000))
    await until(lambda: accepted(world.sinks) >= 150, 60, "150 notifications accepted")
    first.signal(signal.SIGKILL)
    assert await exit_code(first, 10) == -signal.SIGKILL
    killed_at = accepted(world.sinks)
    assert killed_at < 1000, "the worker finished before it was killed: nothing was in flight"

    second = world.service()
    second.start()
    await second.wait_ready()
    tally = await world.settled(ids, timeout=120)
    world.report("worker SIGKILLed with 1,000 in flight", tally)
    assert tally.lost == []
    assert tally.notified == 1000 and tally.dead == 0
    assert second.process is not None and second.process.poll() is None
