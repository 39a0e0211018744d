"""The worker: consumes the work queue with a bounded number of events in flight, hands each to
the Processor, settles it, and shuts down gracefully."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from aio_pika.abc import AbstractIncomingMessage

from notifier import metrics
from notifier.processing import Dead, Delivery, Processor, Retry, Verdict
from notifier.retries import RetryPolicy
from notifier.worker.broker import Broker
from notifier.worker.probe import QueueProbe
from notifier.worker.settlement import RETRY_REASON_HEADER, attempt_of, settle

log = structlog.get_logger("notifier.worker")


class Worker:
    """Consumes ``notifier.events`` until stopped."""

    def __init__(
        self,
        broker: Broker,
        processor: Processor,
        *,
        retries: RetryPolicy,
        concurrency: int,
        max_deliveries: int,
        probe: QueueProbe | None = None,
    ) -> None:
        self.broker = broker
        self.processor = processor
        self.retries = retries
        self.slots = asyncio.Semaphore(concurrency)
        self.max_deliveries = max_deliveries
        self.in_flight: set[asyncio.Task[None]] = set()
        self.probe = probe
        self._consumer_tag: str | None = None

    async def start(self) -> None:
        """Begin consuming (the broker must be connected)."""
        topology = self.broker.topology
        assert topology is not None
        self._consumer_tag = await topology.work_queue.consume(self._on_message)
        log.info("worker.started", prefetch=self.broker.prefetch)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        await self.slots.acquire()
        task = asyncio.create_task(self._process(message))
        self.in_flight.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        self.slots.release()

    async def _process(self, message: AbstractIncomingMessage) -> None:
        metrics.IN_FLIGHT.inc()
        structlog.contextvars.clear_contextvars()
        started = asyncio.get_running_loop().time()
        attempt = attempt_of(message)
        if self.probe is not None and RETRY_REASON_HEADER not in (message.headers or {}):
            self.probe.taken(message.timestamp)
        try:
            verdict = await self._verdict(message, attempt)
            await settle(self.broker.channel, self.broker.topology, message, verdict)  # type: ignore[arg-type]
            log.info(
                "notification.processed",
                outcome=type(verdict).__name__.lower(),
                detail=getattr(verdict, "outcome", None) or getattr(verdict, "reason", None),
                duration_ms=round((asyncio.get_running_loop().time() - started) * 1000, 1),
            )
        except Exception as exc:
            # Could not even settle (broker gone mid-way): leave it unacked; it comes back.
            log.warning("notification.unsettled", error=type(exc).__name__)
        finally:
            metrics.IN_FLIGHT.dec()

    async def _verdict(self, message: AbstractIncomingMessage, attempt: int) -> Verdict:
        headers = message.headers or {}
        deliveries = headers.get("x-delivery-count", 0)
        if isinstance(deliveries, int) and deliveries >= self.max_deliveries:
            return Dead("poison", f"delivered {deliveries} times without being settled")
        replay = bool(message.redelivered) or bool(deliveries) or RETRY_REASON_HEADER in headers
        try:
            return await self.processor.handle(
                Delivery(
                    body=message.body,
                    content_type=message.content_type,
                    attempt=attempt,
                    replay=replay,
                )
            )
        except Exception as exc:
            # The one place unexpected exceptions are caught. Type only: messages of database
            # and library errors can carry personal data.
            log.error("notification.crashed", error=type(exc).__name__, exc_info=False)
            delay = self.retries.delay(attempt)
            if delay is None:
                return Dead("crash", f"{type(exc).__name__} on every attempt")
            return Retry(delay, f"crash:{type(exc).__name__}")

    async def stop(self, grace: float) -> None:
        """Stop consuming, give in-flight events ``grace`` seconds to finish, then return."""
        topology = self.broker.topology
        if self._consumer_tag and topology is not None:
            with contextlib.suppress(Exception):
                await topology.work_queue.cancel(self._consumer_tag)
        if self.in_flight:
            log.info("worker.draining", in_flight=len(self.in_flight))
            _done, pending = await asyncio.wait(set(self.in_flight), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("worker.abandoned", count=len(pending))
        log.info("worker.stopped")
