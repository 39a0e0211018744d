"""The one settlement table: every message is settled exactly once, by its verdict's kind.

| verdict | action |
|---|---|
| Ack   | ack |
| Retry | publish a copy to the delay queue for its delay (confirmed; the attempt header counts
          it unless it is a wait), then ack |
| Dead  | publish a copy to ``notifier.dead`` with reason headers (confirmed), then ack |

Nothing is ever requeued straight back (that spins); a message that cannot be settled is left
unacked and comes back when the channel closes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from notifier import metrics
from notifier.processing import Ack, Dead, Retry, Verdict
from notifier.worker.topology import DEAD, Topology

ATTEMPT_HEADER = "x-notifier-attempt"
RETRY_REASON_HEADER = "x-notifier-retry-reason"
REASON_HEADER = "x-notifier-reason"
DETAIL_HEADER = "x-notifier-detail"


def _copy(message: AbstractIncomingMessage, extra: Mapping[str, Any]) -> aio_pika.Message:
    headers = dict(message.headers or {})
    headers.update(extra)
    return aio_pika.Message(
        body=message.body,
        headers=headers,
        content_type=message.content_type,
        message_id=message.message_id,
        timestamp=message.timestamp,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


def attempt_of(message: AbstractIncomingMessage) -> int:
    """The failed attempts before this delivery (the retry policy's one counter)."""
    value = (message.headers or {}).get(ATTEMPT_HEADER, 0)
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else 0


async def _ack(
    channel: AbstractChannel, topology: Topology, message: AbstractIncomingMessage, verdict: Ack
) -> None:
    await message.ack()


async def _retry(
    channel: AbstractChannel, topology: Topology, message: AbstractIncomingMessage, verdict: Retry
) -> None:
    # Long waits (quiet hours) hop through the longest queue and are re-planned on return.
    _, queue = topology.retry_queue_for(verdict.delay)
    attempt = attempt_of(message) + (1 if verdict.counts else 0)
    extra = {ATTEMPT_HEADER: attempt, RETRY_REASON_HEADER: verdict.reason}
    await channel.default_exchange.publish(_copy(message, extra), routing_key=queue)
    metrics.RETRIES.labels(channel=verdict.channel, reason=verdict.reason[:40]).inc()
    await message.ack()


async def _dead(
    channel: AbstractChannel, topology: Topology, message: AbstractIncomingMessage, verdict: Dead
) -> None:
    extra = {REASON_HEADER: verdict.reason, DETAIL_HEADER: verdict.detail[:500]}
    await channel.default_exchange.publish(_copy(message, extra), routing_key=DEAD)
    metrics.DEAD_LETTERS.labels(reason=verdict.reason).inc()
    await message.ack()


Settler = Callable[[AbstractChannel, Topology, AbstractIncomingMessage, Verdict], Awaitable[None]]
SETTLEMENT: dict[type, Settler] = {Ack: _ack, Retry: _retry, Dead: _dead}  # type: ignore[dict-item]


async def settle(
    channel: AbstractChannel, topology: Topology, message: AbstractIncomingMessage, verdict: Verdict
) -> None:
    """Carry out ``verdict`` for ``message`` through the table above."""
    await SETTLEMENT[type(verdict)](channel, topology, message, verdict)
    metrics.PROCESSED.labels(outcome=type(verdict).__name__.lower()).inc()
