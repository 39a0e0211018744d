"""Assembling the service from its settings: the store, the channels, the worker and the HTTP
port, in one process, with graceful shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta

import structlog
import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.channels.base import Channel as ChannelAdapter
from notifier.channels.outbox import EmailOutbox, LetterOutbox, SmsOutbox
from notifier.councils import Council, load_councils
from notifier.http import create_app
from notifier.model import Channel
from notifier.outcomes import OutcomeSink
from notifier.preferences.store import PreferenceStore
from notifier.processing import Processor
from notifier.settings import EmailProvider, Settings, SmsProvider
from notifier.store import migrate
from notifier.store.database import create_engine, ping
from notifier.store.notifications import NotificationStore
from notifier.templates.source import Catalogue
from notifier.worker.broker import Broker
from notifier.worker.consumer import Worker

log = structlog.get_logger("notifier.app")


def build_channels(settings: Settings) -> dict[Channel, ChannelAdapter]:
    """One adapter per channel, as the settings choose."""
    channels: dict[Channel, ChannelAdapter] = {
        Channel.EMAIL: EmailOutbox(settings.outbox_dir),
        Channel.SMS: SmsOutbox(settings.outbox_dir),
        Channel.LETTER: LetterOutbox(settings.outbox_dir),
    }
    if settings.email_provider is EmailProvider.SMTP:
        from notifier.channels.smtp import SmtpChannel

        channels[Channel.EMAIL] = SmtpChannel.from_settings(settings)
    if settings.sms_provider is SmsProvider.TWILIO:
        from notifier.channels.twilio import TwilioChannel

        channels[Channel.SMS] = TwilioChannel.from_settings(settings)
    return channels


class Service:
    """Everything one ``notifier run`` process holds."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.councils: Mapping[str, Council] = load_councils(settings.councils_file)
        self.catalogue = Catalogue.load(settings.template_dir)
        self.engine: AsyncEngine = create_engine(settings.database_url.get_secret_value())
        self.notifications = NotificationStore(self.engine)
        self.preferences = PreferenceStore(self.engine)
        self.channels = build_channels(settings)
        self.broker = Broker(
            settings.amqp_url.get_secret_value(),
            settings.retry_delays,
            prefetch=settings.prefetch,
            max_deliveries=settings.max_deliveries,
        )
        self._stop = asyncio.Event()

    def processor(self, outcomes: OutcomeSink) -> Processor:
        return Processor(
            catalogue=self.catalogue,
            councils=self.councils,
            notifications=self.notifications,
            preferences=self.preferences,
            channels=self.channels,
            outcomes=outcomes,
            retry_delays=self.settings.retry_delay_seconds,
            max_attempts=self.settings.max_attempts,
        )

    def http_app(self) -> FastAPI:
        async def broker_ready() -> bool:
            return self.broker.connected

        async def database_ready() -> bool:
            return await ping(self.engine)

        return create_app(checks={"broker": broker_ready, "database": database_ready})

    def stop(self) -> None:
        self._stop.set()

    async def run(self, *, worker: bool = True, http: bool = True) -> None:
        """Run until stopped by a signal or ``stop()``, then shut down in order."""
        if self.settings.is_sqlite:
            await migrate.upgrade(self.engine)
        server = (
            _Server(
                uvicorn.Config(
                    self.http_app(),
                    host=self.settings.http_host,
                    port=self.settings.http_port,
                    log_config=None,
                    access_log=False,
                    lifespan="off",
                )
            )
            if http
            else None
        )
        consumer: Worker | None = None
        tasks: list[asyncio.Task[None]] = []
        server_task: asyncio.Task[None] | None = None
        with _signals(self.stop):
            try:
                if server is not None:
                    server_task = asyncio.create_task(server.serve())
                    tasks.append(server_task)
                # Both roles publish outcomes (the HTTP port for provider webhooks).
                await self.broker.connect()
                if worker:
                    tasks.append(asyncio.create_task(self._purge_periodically()))
                    consumer = Worker(
                        self.broker,
                        self.processor(self.broker),
                        concurrency=self.settings.concurrency,
                        max_deliveries=self.settings.max_deliveries,
                    )
                    await consumer.start()
                log.info(
                    "service.started",
                    worker=worker,
                    http=http,
                    port=self.settings.http_port if http else None,
                )
                stopped = asyncio.create_task(self._stop.wait())
                await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
                stopped.cancel()
            finally:
                log.info("service.stopping")
                if consumer is not None:
                    await consumer.stop(self.settings.shutdown_grace)
                await self.broker.close()
                if server is not None:
                    server.should_exit = True
                for task in tasks:
                    if task is not server_task:
                        task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                for adapter in self.channels.values():
                    with contextlib.suppress(Exception):
                        await adapter.aclose()
                await self.engine.dispose()
                log.info("service.stopped")

    async def _purge_periodically(self, every: float = 3600.0) -> None:
        """Forget contact details past the retention period, hourly (the history stays)."""
        while True:
            cutoff = datetime.now(UTC) - timedelta(days=self.settings.retention_days)
            try:
                purged = await self.notifications.purge_personal_data(cutoff)
                if purged:
                    log.info("retention.purged", count=purged)
            except Exception as exc:
                log.warning("retention.purge_failed", error=type(exc).__name__)
            await asyncio.sleep(every)


class _Server(uvicorn.Server):
    """Uvicorn without its own signal handlers: the service owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.contextmanager
def _signals(stop: object) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    handled = (signal.SIGTERM, signal.SIGINT)
    for sig in handled:
        loop.add_signal_handler(sig, stop)  # type: ignore[arg-type]
    try:
        yield
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
