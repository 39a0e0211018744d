"""The settlement table on a real broker: each verdict settles its message exactly once, where
the table says, with the headers the retry policy and the dead-letter tools read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, FieldValue

from notifier.processing import Ack, Dead, Retry, Verdict
from notifier.worker.broker import Broker
from notifier.worker.settlement import (
    ATTEMPT_HEADER,
    DETAIL_HEADER,
    REASON_HEADER,
    RETRY_REASON_HEADER,
    attempt_of,
    settle,
)
from notifier.worker.topology import DEAD, EVENTS, retry_queue_name

DELAYS = ("1m", "5m")


@pytest.fixture
async def broker(amqp_url: str) -> AsyncIterator[Broker]:
    broker = Broker(amqp_url, DELAYS, prefetch=10, max_deliveries=5)
    await broker.connect()
    try:
        yield broker
    finally:
        await broker.close()


async def take(queue: AbstractQueue) -> AbstractIncomingMessage:
    """The next message on ``queue`` (waiting up to five seconds for it to be routed)."""
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        message = await queue.get(no_ack=False, fail=False)
        if message is not None:
            return message
        assert asyncio.get_running_loop().time() < deadline, f"nothing arrived on {queue.name}"
        await asyncio.sleep(0.05)


async def settled(broker: Broker, verdict: Verdict, headers: dict[str, FieldValue]) -> None:
    """Publish one event with ``headers``, take it from the work queue and settle it."""
    assert broker.channel is not None and broker.topology is not None
    await broker.channel.default_exchange.publish(
        aio_pika.Message(b'{"id": "1"}', headers=headers, message_id="m-1"), routing_key=EVENTS
    )
    message = await take(broker.topology.work_queue)
    await settle(broker.channel, broker.topology, message, verdict)


async def depth(broker: Broker, name: str) -> int:
    assert broker.channel is not None
    queue = await broker.channel.declare_queue(name, passive=True)
    return int(queue.declaration_result.message_count or 0)


async def test_ack_removes_the_message(broker: Broker) -> None:
    """Ack: the event leaves the work queue and goes nowhere else."""
    await settled(broker, Ack("sent"), {})
    await broker.channel.close()  # type: ignore[union-attr]  # unacked messages would return
    await broker.close()
    await broker.connect()
    assert [await depth(broker, n) for n in (EVENTS, DEAD, retry_queue_name("1m"))] == [0, 0, 0]


async def test_retry_goes_to_the_delay_queue_counting_the_attempt(broker: Broker) -> None:
    """A failure's Retry lands on the longest delay queue that fits, one attempt more."""
    await settled(broker, Retry(400.0, "smtp-451", "email"), {ATTEMPT_HEADER: 2})
    assert broker.channel is not None
    queue = await broker.channel.declare_queue(retry_queue_name("5m"), passive=True)
    copy = await take(queue)
    assert attempt_of(copy) == 3
    assert copy.headers[RETRY_REASON_HEADER] == "smtp-451"
    assert copy.message_id == "m-1" and copy.body == b'{"id": "1"}'
    assert await depth(broker, EVENTS) == 0


async def test_a_wait_does_not_use_up_an_attempt(broker: Broker) -> None:
    """A quiet-hours wait goes through a delay queue but keeps its attempt number."""
    await settled(broker, Retry(30.0, "quiet-hours", "sms", counts=False), {ATTEMPT_HEADER: 1})
    assert broker.channel is not None
    queue = await broker.channel.declare_queue(retry_queue_name("1m"), passive=True)
    copy = await take(queue)
    assert attempt_of(copy) == 1
    assert copy.headers[RETRY_REASON_HEADER] == "quiet-hours"


async def test_dead_goes_to_the_dead_queue_with_its_reason(broker: Broker) -> None:
    """Dead: a copy on notifier.dead with the reason and a bounded detail; the original acked."""
    await settled(broker, Dead("schema", "x" * 800), {})
    assert broker.topology is not None
    copy = await take(broker.topology.dead_queue)
    assert copy.headers[REASON_HEADER] == "schema"
    assert copy.headers[DETAIL_HEADER] == "x" * 500
    assert await depth(broker, EVENTS) == 0


@pytest.mark.parametrize(
    ("headers", "attempt"),
    [({}, 0), ({ATTEMPT_HEADER: 4}, 4), ({ATTEMPT_HEADER: "2"}, 2), ({ATTEMPT_HEADER: "x"}, 0)],
)
async def test_attempt_header_is_read_leniently(
    broker: Broker, headers: dict[str, FieldValue], attempt: int
) -> None:
    """A missing or unreadable attempt header counts as the first attempt."""
    assert broker.channel is not None and broker.topology is not None
    await broker.channel.default_exchange.publish(
        aio_pika.Message(b"{}", headers=headers), routing_key=EVENTS
    )
    message = await take(broker.topology.work_queue)
    assert attempt_of(message) == attempt
    await message.ack()
