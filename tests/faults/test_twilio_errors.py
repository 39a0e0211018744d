"""Twilio answering 500 and 429 for a while: retried and delivered, the throttle respected."""

from __future__ import annotations

import asyncpg
import pytest

from tests.faults.harness import World, mixed

pytestmark = pytest.mark.faults

RATE = 60.0  # segments a second the service is allowed (capacity: one second's worth)


def segments(body: str) -> int:
    """Message segments of a GSM-7 body, as the fake and Twilio count them."""
    return 1 if len(body) <= 160 else -(-len(body) // 153)


async def test_twilio_500_then_429_is_retried_delivered_and_throttled(world: World) -> None:
    """The first 25 requests get a bare 500 and the next 25 a 429 (code 20429): each is retried
    through the delay queues and delivered once, and no second sees more segments than the
    throttle allows."""
    world.sinks.twilio.fail_next(25, status=500)
    world.sinks.twilio.fail_next(25, status=429, code=20429)
    service = world.service(NOTIFIER_TWILIO_SEGMENTS_PER_SECOND=str(RATE))
    service.start()
    await service.wait_ready()
    ids = await world.publish(mixed(100, sms_every=1))  # SMS only
    tally = await world.settled(ids, timeout=120)
    world.report("Twilio 500 then 429", tally)
    assert tally.lost == []
    assert tally.notified == 100 and tally.dead == 0 and tally.duplicated == 0

    conn = await asyncpg.connect(world.database_url.replace("+asyncpg", ""))
    try:
        reasons = {
            r["reason"]: r["n"]
            for r in await conn.fetch(
                "SELECT reason, count(*) AS n FROM status_history"
                " WHERE reason LIKE 'retry:%' GROUP BY reason"
            )
        }
    finally:
        await conn.close()
    assert reasons == {"retry:http-500": 25, "retry:twilio-20429": 25}

    requests = list(world.sinks.twilio.requests)
    times = world.sinks.sms_times
    assert len(requests) == len(times) == 150
    sizes = [segments(r.form["Body"]) for r in requests]
    # Token bucket: over any span, at most rate * span + capacity segments (plus arrival jitter).
    for i in range(len(times)):
        total = 0
        for j in range(i, len(times)):
            total += sizes[j]
            allowed = RATE * (times[j] - times[i] + 0.05) + RATE
            assert total <= allowed, f"{total} segments in {times[j] - times[i]:.2f}s"
