"""The work queue seen from the service: how many messages wait and how old the oldest is.

RabbitMQ's Prometheus plugin reports queue depth but not message age, so the service reports
both itself (docs/operations.md, "Metrics"). Depth comes from a passive declare, which reads the
queue's counters without touching a message; peeking at the head would return it to a quorum
queue and raise its delivery count. The oldest message's age is estimated: 0 when the queue is
empty, else the smaller of the time since this probe first saw it non-empty and the age of the
last message this process took (its AMQP ``timestamp``): in a FIFO queue the head is no older
than the message taken before it, and while no worker takes anything both keep growing.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import structlog

from notifier import metrics
from notifier.worker.broker import Broker
from notifier.worker.topology import DEAD, EVENTS

log = structlog.get_logger("notifier.worker.probe")

PROBE_EVERY = 15.0


class QueueProbe:
    """Depth of the work and dead-letter queues and the age of the oldest waiting event."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.nonempty_since: float | None = None
        self.last_taken_published: float | None = None

    def taken(self, published: datetime | None) -> None:
        """The consumer took a message published at ``published`` (None: no timestamp)."""
        if published is None:
            return
        at = published.timestamp()
        self.last_taken_published = at
        metrics.QUEUE_WAIT_SECONDS.observe(max(0.0, time.time() - at))

    def oldest_age(self, depth: int, now: float) -> float:
        """The estimate described in the module's docstring."""
        if depth == 0:
            self.nonempty_since = None
            return 0.0
        if self.nonempty_since is None:
            self.nonempty_since = now
        candidates = [now - self.nonempty_since]
        if self.last_taken_published is not None:
            candidates.append(now - self.last_taken_published)
        return max(0.0, min(candidates))

    async def observe(self) -> None:
        """One look at the queues, into the gauges; nothing when the broker is not connected."""
        connection = self.broker.connection
        if connection is None or not self.broker.connected:
            return
        depths: dict[str, int] = {}
        # A channel of its own: a robust channel answers a passive declare of a queue it knows
        # from its cache, and a failed declare would close the channel outcomes go out on.
        async with connection.channel() as channel:
            for name in (EVENTS, DEAD):
                queue = await channel.declare_queue(name, passive=True, robust=False)
                depths[name] = int(queue.declaration_result.message_count or 0)
                metrics.QUEUE_MESSAGES.labels(queue=name).set(depths[name])
        metrics.QUEUE_OLDEST_AGE.set(self.oldest_age(depths[EVENTS], time.time()))

    async def run(self, every: float = PROBE_EVERY) -> None:
        """``observe`` every ``every`` seconds until cancelled."""
        while True:
            try:
                await self.observe()
            except Exception as exc:
                log.warning("metrics.queue_probe_failed", error=type(exc).__name__)
            await asyncio.sleep(every)
