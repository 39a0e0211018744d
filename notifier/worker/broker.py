"""The worker's broker connection: robust, with publisher confirms and the declared topology.
It is also the OutcomeSink that publishes outcome events."""

from __future__ import annotations

import asyncio

import aio_pika
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection

from notifier import metrics
from notifier.settings import WorkerSettings
from notifier.store.scheduled import ScheduledEvent
from notifier.worker.settlement import ATTEMPT_HEADER, RETRY_REASON_HEADER
from notifier.worker.topology import Topology, declare


class Broker:
    """A robust connection, a confirming channel and the declared topology."""

    def __init__(
        self, url: str, retry_delays: tuple[str, ...], *, prefetch: int, max_deliveries: int
    ) -> None:
        self.url = url
        self.retry_delays = retry_delays
        self.prefetch = prefetch
        self.max_deliveries = max_deliveries
        self.connection: AbstractRobustConnection | None = None
        self.channel: AbstractRobustChannel | None = None
        self.topology: Topology | None = None

    @classmethod
    def from_settings(cls, worker: WorkerSettings, *, prefetch: int | None = None) -> Broker:
        """The broker the worker part describes; ``prefetch`` for a tool that only publishes."""
        return cls(
            worker.amqp_url.get_secret_value(),
            worker.retry_delays,
            prefetch=worker.prefetch if prefetch is None else prefetch,
            max_deliveries=worker.max_deliveries,
        )

    async def connect(self) -> Topology:
        self.connection = await aio_pika.connect_robust(
            self.url, client_properties={"connection_name": "notifier-worker"}
        )
        self.channel = await self.connection.channel(publisher_confirms=True)
        assert self.channel is not None
        await self.channel.set_qos(prefetch_count=self.prefetch)
        self.topology = await declare(
            self.channel, self.retry_delays, max_deliveries=self.max_deliveries
        )
        metrics.BROKER_CONNECTED.set(1)
        self.connection.close_callbacks.add(lambda *_: metrics.BROKER_CONNECTED.set(0))
        self.connection.reconnect_callbacks.add(lambda *_: metrics.BROKER_CONNECTED.set(1))
        return self.topology

    @property
    def connected(self) -> bool:
        """Open and with the topology declared: only then is a published event sure to be
        routed to the work queue (readiness must not say yes any earlier)."""
        return (
            self.connection is not None
            and self.topology is not None
            and not self.connection.is_closed
            and bool(getattr(self.connection, "connected", asyncio.Event()).is_set())
        )

    async def publish(self, routing_key: str, body: bytes, message_id: str) -> None:
        """Publish an outcome event to ``notifier.outcomes`` (confirmed): the OutcomeSink."""
        if self.topology is None:
            raise RuntimeError("broker not connected")
        await self.topology.outcomes_exchange.publish(
            aio_pika.Message(
                body=body,
                content_type="application/cloudevents+json",
                message_id=message_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=routing_key,
        )

    async def requeue(self, body: bytes, *, content_type: str | None, reason: str) -> None:
        """Put an event back on the work queue (confirmed) as a replay of what was recorded
        when it first came, with a fresh attempt count. Straight to the work queue, not through
        ``notifier.events``, so nothing else bound there sees it twice."""
        if self.channel is None or self.topology is None:
            raise RuntimeError("broker not connected")
        await self.channel.default_exchange.publish(
            aio_pika.Message(
                body=body,
                content_type=content_type,
                headers={RETRY_REASON_HEADER: reason, ATTEMPT_HEADER: 0},
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=self.topology.work_queue.name,
        )

    async def release(self, event: ScheduledEvent) -> None:
        """A kept event whose send time has come (``store.scheduled``)."""
        await self.requeue(event.body, content_type=event.content_type, reason="scheduled")

    async def continue_event(self, body: bytes) -> None:
        """A kept event whose email bounced: ``processing.step_for`` falls back to the next
        channel."""
        await self.requeue(body, content_type="application/cloudevents+json", reason="bounce")

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()
        metrics.BROKER_CONNECTED.set(0)
