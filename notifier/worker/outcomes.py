"""Publishing outcome events to ``notifier.outcomes`` with publisher confirms."""

from __future__ import annotations

import aio_pika
from aio_pika.abc import AbstractExchange


class AmqpOutcomeSink:
    """An OutcomeSink on the outcomes exchange."""

    def __init__(self, exchange: AbstractExchange) -> None:
        self.exchange = exchange

    async def publish(self, routing_key: str, body: bytes, message_id: str) -> None:
        await self.exchange.publish(
            aio_pika.Message(
                body=body,
                content_type="application/cloudevents+json",
                message_id=message_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=routing_key,
        )
