"""The work queue seen from the service: depth by a passive declare, the oldest message's age."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from notifier import metrics
from notifier.settings import load_settings
from notifier.worker.broker import Broker
from notifier.worker.probe import QueueProbe
from tests.events import make_event
from tests.service import publish_raw

NOW = 1_800_000_000.0

# (depth, seconds since the probe first saw the queue non-empty, age of the last message taken
# or None, expected estimate)
AGES = [
    pytest.param(0, 100, 50, 0.0, id="empty: nothing is old"),
    pytest.param(3, 30, None, 30.0, id="nothing taken yet: since first seen non-empty"),
    pytest.param(3, 3600, 5, 5.0, id="flowing backlog: the last message taken"),
    pytest.param(3, 60, 7200, 60.0, id="newly non-empty after an old take: since non-empty"),
]


@pytest.mark.parametrize(("depth", "since", "taken_age", "expected"), AGES)
def test_oldest_age_estimate(
    depth: int, since: float, taken_age: float | None, expected: float
) -> None:
    """The estimate is 0 for an empty queue, else the smaller of the two lower bounds."""
    probe = QueueProbe(Broker("amqp://unused", ("30s",), prefetch=1, max_deliveries=5))
    probe.nonempty_since = NOW - since
    if taken_age is not None:
        probe.taken(datetime.fromtimestamp(NOW - taken_age, UTC))
    assert probe.oldest_age(depth, NOW) == expected


async def test_probe_reads_the_depth_of_the_work_and_dead_queues(amqp_url: str) -> None:
    """Three events published with nobody consuming show as three ready in notifier.events and
    none in notifier.dead, and the oldest age becomes positive once seen non-empty."""
    settings = load_settings(amqp_url=amqp_url)
    broker = Broker.from_settings(settings.worker)
    await broker.connect()
    try:
        await publish_raw(amqp_url, [make_event() for _ in range(3)])
        probe = QueueProbe(broker)
        deadline = time.monotonic() + 20
        ready: float | None = None
        while ready != 3 and time.monotonic() < deadline:
            await probe.observe()
            ready = metrics.REGISTRY.get_sample_value(
                "notifier_queue_messages", {"queue": "notifier.events"}
            )
            await asyncio.sleep(0.1)
        dead = metrics.REGISTRY.get_sample_value(
            "notifier_queue_messages", {"queue": "notifier.dead"}
        )
        assert (ready, dead) == (3, 0)
        assert probe.nonempty_since is not None
    finally:
        await broker.close()
