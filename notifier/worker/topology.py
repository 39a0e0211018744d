"""The broker topology of DESIGN.md, declared idempotently."""

from __future__ import annotations

import dataclasses
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

from notifier.settings import parse_duration

EVENTS = "notifier.events"
OUTCOMES = "notifier.outcomes"
DEAD = "notifier.dead"
RETRY_PREFIX = "notifier.retry."


def retry_queue_name(delay: str) -> str:
    return f"{RETRY_PREFIX}{delay}"


@dataclasses.dataclass(frozen=True)
class Topology:
    events_exchange: AbstractExchange
    work_queue: AbstractQueue
    dead_queue: AbstractQueue
    outcomes_exchange: AbstractExchange
    # (delay in seconds, queue name), shortest first
    retry_queues: tuple[tuple[float, str], ...]

    def retry_queue_for(self, delay: float) -> tuple[float, str]:
        """The longest delay queue not longer than ``delay`` (the shortest if all are)."""
        chosen = self.retry_queues[0]
        for candidate in self.retry_queues:
            if candidate[0] <= delay:
                chosen = candidate
        return chosen


async def declare(
    channel: AbstractChannel, retry_delays: tuple[str, ...], *, max_deliveries: int = 5
) -> Topology:
    """Declare exchanges and queues (safe to repeat) and return handles to them."""
    events_exchange = await channel.declare_exchange(
        EVENTS, aio_pika.ExchangeType.TOPIC, durable=True
    )
    outcomes_exchange = await channel.declare_exchange(
        OUTCOMES, aio_pika.ExchangeType.TOPIC, durable=True
    )
    dead_queue = await channel.declare_queue(
        DEAD, durable=True, arguments={"x-queue-type": "quorum"}
    )
    work_queue = await channel.declare_queue(
        EVENTS,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            # A safety net under the worker's own poison check: a message that keeps killing
            # the consumer is dead-lettered by the broker instead of looping for ever.
            "x-delivery-limit": max_deliveries * 4,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": DEAD,
        },
    )
    await work_queue.bind(events_exchange, routing_key="#")
    retry_queues = []
    for delay in sorted(retry_delays, key=parse_duration):
        seconds = parse_duration(delay)
        await channel.declare_queue(
            retry_queue_name(delay), durable=True, arguments=_retry_arguments(seconds)
        )
        retry_queues.append((seconds, retry_queue_name(delay)))
    return Topology(events_exchange, work_queue, dead_queue, outcomes_exchange, tuple(retry_queues))


def _retry_arguments(seconds: float) -> dict[str, Any]:
    return {
        "x-queue-type": "quorum",
        "x-message-ttl": int(seconds * 1000),
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": EVENTS,
        # Quorum queues can dead-letter at least once, so an expiring retry is never lost.
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
