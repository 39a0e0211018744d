"""Assembling the service from its settings: the store, the channels, the worker and the HTTP
port, in one process, with graceful shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Coroutine, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
import uvicorn
from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.channels.base import Channel as ChannelAdapter
from notifier.channels.outbox import EmailOutbox, LetterOutbox, SmsOutbox
from notifier.councils import Council, load_councils
from notifier.errors import ConfigurationError
from notifier.http import create_app
from notifier.model import Channel
from notifier.outcomes import OutcomeSink
from notifier.preferences.store import PreferenceStore
from notifier.processing import Processor
from notifier.settings import EmailProvider, LetterProvider, Settings, SmsProvider
from notifier.store import migrate
from notifier.store.database import create_engine, ping
from notifier.store.notifications import NotificationStore
from notifier.templates.source import Catalogue
from notifier.web.tokens import Links
from notifier.worker.broker import Broker
from notifier.worker.consumer import Worker

log = structlog.get_logger("notifier.app")


def build_channels(
    settings: Settings, engine: AsyncEngine | None = None
) -> dict[Channel, ChannelAdapter]:
    """One adapter per channel, as the settings choose (``engine``: the store the letter spool
    records in; without one, a letter channel that spools opens its own)."""
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
    if settings.letter_provider is not LetterProvider.OUTBOX:
        from notifier.channels.letter import SpoolingLetterChannel

        channels[Channel.LETTER] = SpoolingLetterChannel.from_settings(settings, engine)
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
        self.channels = build_channels(settings, self.engine)
        self.links = Links.from_settings(settings)
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
            preferences_link=self.links.preferences_link,
            unsubscribe_link=self.links.unsubscribe_link,
        )

    def http_app(self) -> FastAPI:
        async def broker_ready() -> bool:
            return self.broker.connected

        async def database_ready() -> bool:
            return await ping(self.engine)

        return create_app(
            checks={"broker": broker_ready, "database": database_ready},
            routers=[*self._webhook_routers(), *self._preference_routers()],
        )

    def _preference_routers(self) -> list[APIRouter]:
        """The customers API and the residents' pages."""
        from notifier.web.mount import preference_routers

        return preference_routers(
            self.settings,
            engine=self.engine,
            catalogue=self.catalogue,
            councils=self.councils,
            links=self.links,
        )

    def _webhook_routers(self) -> list[APIRouter]:
        """The provider webhooks the configured channels need."""
        routers: list[APIRouter] = []
        if self.settings.sms_provider is SmsProvider.TWILIO:
            from notifier.web.twilio import twilio_router

            token = self.settings.twilio_auth_token
            if token is None:
                raise ConfigurationError(
                    "NOTIFIER_TWILIO_AUTH_TOKEN is required when NOTIFIER_SMS_PROVIDER=twilio"
                )
            routers.append(
                twilio_router(
                    auth_token=token,
                    public_base_url=self.settings.public_base_url,
                    notifications=self.notifications,
                    preferences=self.preferences,
                    outcomes=self.broker,
                )
            )
        return routers

    def stop(self) -> None:
        self._stop.set()

    async def run(self, *, worker: bool = True, http: bool = True, jobs: bool = True) -> None:
        """Run until stopped by a signal or ``stop()``, then shut down in order. ``jobs``: the
        scheduled work (retention purge, letter cut-off, print reports) and any extra worker
        processes; off in those extra processes themselves, so it runs once."""
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
                if worker and jobs:
                    tasks.append(asyncio.create_task(self._purge_periodically()))
                    if self.settings.worker_processes > 1:
                        tasks.append(asyncio.create_task(self._extra_workers()))
                    tasks.extend(asyncio.create_task(job) for job in self._letter_jobs())
                if worker:
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

    async def _extra_workers(self) -> None:
        """Keep NOTIFIER_WORKER_PROCESSES - 1 more ``notifier worker`` processes running beside
        this one; when cancelled (shutdown), stop them gracefully and wait for them."""
        env = {**os.environ, "NOTIFIER_WORKER_PROCESSES": "1"}
        command = [sys.executable, "-m", "notifier", "worker", "--consume-only"]
        children: list[asyncio.subprocess.Process] = []

        async def keep_running() -> None:
            child = await asyncio.create_subprocess_exec(*command, env=env)
            children.append(child)
            while True:
                code = await child.wait()
                log.warning("worker.process_exited", exit_code=code)
                await asyncio.sleep(1)  # a process that dies at once must not spin
                children.remove(child)
                child = await asyncio.create_subprocess_exec(*command, env=env)
                children.append(child)

        keepers = [
            asyncio.create_task(keep_running()) for _ in range(self.settings.worker_processes - 1)
        ]
        try:
            await asyncio.gather(*keepers)
        finally:
            for keeper in keepers:
                keeper.cancel()
            for child in children:
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signal.SIGTERM)
            grace = self.settings.shutdown_grace + 10
            for child in children:
                try:
                    await asyncio.wait_for(child.wait(), grace)
                except TimeoutError:
                    child.kill()
                    await child.wait()

    def _letter_jobs(self) -> list[Coroutine[Any, Any, None]]:
        """The daily print cut-off and the polling of print reports (worker role, with a real
        print provider)."""
        if self.settings.letter_provider is LetterProvider.OUTBOX:
            return []
        from notifier.letters.dispatch import build_dispatcher, dispatch_daily
        from notifier.letters.reports import build_poller, poll_reports_forever

        jobs = [
            dispatch_daily(
                build_dispatcher(self.settings, self.engine, self.broker),
                self.settings.letter_cutoff_time,
            )
        ]
        if self.settings.print_report_dir:
            poller = build_poller(self.settings, self.engine, self.broker)
            jobs.append(poll_reports_forever(poller, self.settings.print_report_poll_seconds))
        return jobs


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
