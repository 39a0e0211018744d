"""Three workers against one broker and one PostgreSQL database, one SIGKILLed mid-stream:
the competing-consumer claim that scaling the worker out (compose --scale, KEDA) rests on."""

from __future__ import annotations

import signal

import pytest

from tests.faults.harness import World, accepted, exit_code, mixed, until

pytestmark = [pytest.mark.faults, pytest.mark.timeout(360)]

EVENTS = 3000


async def test_three_workers_share_the_queue_and_one_killed_loses_nothing(world: World) -> None:
    """3,000 events to three worker processes (the first with the scheduled jobs, two with
    ``--no-jobs`` as the scaled replicas run); every one of them takes a share; SIGKILL one
    mid-stream; the other two notify every event once, duplicate sends counted."""
    workers = [world.service(NOTIFIER_PREFETCH="100", NOTIFIER_CONCURRENCY="100") for _ in range(3)]
    workers[0].start()
    for replica in workers[1:]:
        replica.start("run", "--no-jobs")
    for worker in workers:
        await worker.wait_ready()
    ids = await world.publish(mixed(EVENTS))
    await until(lambda: accepted(world.sinks) >= 600, 120, "600 notifications accepted")
    shares = [await w.metric("notifier_events_processed_total") for w in workers]
    victim = workers[1]
    victim.signal(signal.SIGKILL)
    assert await exit_code(victim, 10) == -signal.SIGKILL
    killed_at = accepted(world.sinks)
    assert killed_at < EVENTS, "the events were all sent before the kill: nothing was in flight"
    tally = await world.settled(ids, timeout=240)
    survivors = [
        await w.metric("notifier_events_processed_total") for w in (workers[0], workers[2])
    ]
    world.report(
        f"3 workers, one SIGKILLed at {killed_at} accepted; shares before the kill {shares}",
        tally,
    )
    assert all(share > 0 for share in shares), shares
    assert all(count > 0 for count in survivors), survivors
    assert tally.lost == []
    assert tally.notified == EVENTS and tally.dead == 0
    assert tally.duplicated <= 100  # at most the victim's concurrency: sent, not yet recorded
