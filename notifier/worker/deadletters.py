"""Inspecting and replaying ``notifier.dead`` (for operations staff, through the CLI)."""

from __future__ import annotations

import contextlib
import dataclasses
import json

import aio_pika

from notifier.worker.settlement import DETAIL_HEADER, REASON_HEADER
from notifier.worker.topology import DEAD, EVENTS


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    """What operations staff see of a dead letter: ids and reason, never the body."""

    message_id: str | None
    event_type: str | None
    reason: str
    detail: str


def _describe(message: aio_pika.abc.AbstractIncomingMessage) -> DeadLetter:
    headers = message.headers or {}
    event_type = None
    with contextlib.suppress(ValueError, AttributeError):
        event_type = json.loads(message.body).get("type")
    reason = headers.get(REASON_HEADER)
    if reason is None and headers.get("x-death"):
        reason = "broker:" + str(headers.get("x-first-death-reason", "dead-lettered"))
    return DeadLetter(
        message_id=message.message_id,
        event_type=event_type if isinstance(event_type, str) else None,
        reason=str(reason or "unknown"),
        detail=str(headers.get(DETAIL_HEADER, "")),
    )


async def inspect(url: str, *, limit: int) -> list[DeadLetter]:
    """Up to ``limit`` dead letters, left in the queue."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(DEAD, passive=True)
        seen = []
        for _ in range(limit):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            seen.append(_describe(message))
        # Closing the channel returns every unacked message to the queue, in order.
    return seen


async def replay(url: str, *, reason: str | None, limit: int) -> tuple[int, int]:
    """Move dead letters (optionally only those with ``reason``) back to the work queue.

    Returns (replayed, kept). Each is republished with confirms before it is acked, so a
    failure part-way loses nothing."""
    connection = await aio_pika.connect(url)
    replayed = kept = 0
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(DEAD, passive=True)
        for _ in range(limit):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            if reason is not None and _describe(message).reason != reason:
                kept += 1
                continue
            headers = {
                k: v
                for k, v in (message.headers or {}).items()
                if k not in (REASON_HEADER, DETAIL_HEADER, "x-death")
                and not k.startswith("x-first-death")
                and not k.startswith("x-last-death")
            }
            headers["x-notifier-attempt"] = 0
            await channel.default_exchange.publish(
                aio_pika.Message(
                    body=message.body,
                    headers=headers,
                    content_type=message.content_type,
                    message_id=message.message_id,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=EVENTS,
            )
            await message.ack()
            replayed += 1
    return replayed, kept
