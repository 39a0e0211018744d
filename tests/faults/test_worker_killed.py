"""The worker SIGKILLed with 1,000 events in flight, then restarted: nothing lost, no text sent
twice, and an email sent twice only with the same Message-ID (docs/events.md, "Delivery
guarantee")."""

from __future__ import annotations

import signal

import pytest

from tests.faults.harness import World, accepted, exit_code, mixed, until

pytestmark = pytest.mark.faults


@pytest.mark.parametrize("kill_after", [100, 450, 800], ids=["early", "middle", "late"])
async def test_sigkill_with_1000_in_flight_then_restart_loses_nothing_and_texts_once(
    world: World, kill_after: int
) -> None:
    """With all 1,000 events (half email, half SMS) delivered to the worker unacked, SIGKILL it
    after ``kill_after`` acceptances; a restarted worker notifies every event, reconciles each
    text of unknown outcome with Twilio instead of sending it again, and resends an email of
    unknown outcome with its Message-ID unchanged."""
    first = world.service(NOTIFIER_PREFETCH="1000", NOTIFIER_CONCURRENCY="1000")
    first.start()
    await first.wait_ready()
    ids = await world.publish(mixed(1000))
    await until(lambda: accepted(world.sinks) >= kill_after, 60, f"{kill_after} accepted")
    first.signal(signal.SIGKILL)
    assert await exit_code(first, 10) == -signal.SIGKILL
    killed_at = accepted(world.sinks)
    assert killed_at < 1000, "the worker finished before it was killed: nothing was in flight"

    second = world.service()
    second.start()
    await second.wait_ready()
    tally = await world.settled(ids, timeout=120)
    copies = world.sinks.copies()
    world.report(
        f"worker SIGKILLed with 1,000 in flight after {killed_at} accepted; {copies.line()}",
        tally,
    )
    assert tally.lost == []
    assert tally.notified == 1000 and tally.dead == 0
    assert copies.texts_twice == 0
    assert copies.emails_with_distinct_ids == 0
    assert tally.duplicated == copies.emails_twice
    assert second.process is not None and second.process.poll() is None
