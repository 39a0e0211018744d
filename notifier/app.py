"""Assembling the service from its settings: the store, the channels, the worker and the HTTP
port, in one process, with graceful shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import structlog
import uvicorn
from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.bounces.intake import Intake, Limits
from notifier.bounces.verp import ReturnPaths
from notifier.channels.base import Channel as ChannelAdapter
from notifier.channels.outbox import EmailOutbox, LetterOutbox, SmsOutbox
from notifier.councils import load_councils
from notifier.errors import ConfigurationError
from notifier.evidence import EvidenceStore, open_evidence
from notifier.http import create_app
from notifier.jobs import notify_jobs, observe_store_periodically, release_scheduled, scheduled_jobs
from notifier.lifecycle import Lifecycle
from notifier.messages import Message
from notifier.model import Channel, Council
from notifier.outcomes import OutcomeSink
from notifier.preferences.store import PreferenceStore
from notifier.processing import Processor
from notifier.retries import RetryPolicy
from notifier.settings import EmailProvider, LetterProvider, Settings, SmsProvider, parse_duration
from notifier.store import migrate
from notifier.store.database import create_engine, ping
from notifier.store.notifications import NotificationStore
from notifier.store.scheduled import ScheduledStore
from notifier.supervisor import supervise_workers
from notifier.templates.source import Catalogue
from notifier.web.tokens import Links
from notifier.worker.broker import Broker
from notifier.worker.consumer import Worker
from notifier.worker.probe import QueueProbe

if TYPE_CHECKING:
    from notifier.bounces.imap import Mailbox
    from notifier.bounces.listener import Listener

log = structlog.get_logger("notifier.app")


def build_channels(
    settings: Settings, engine: AsyncEngine, *, return_paths: ReturnPaths | None = None
) -> dict[Channel, ChannelAdapter]:
    """One adapter per channel, as the settings choose, each given only its part (``engine``:
    the store the letter spool records in; ``return_paths``: signed MAIL FROMs for bounces)."""
    channels: dict[Channel, ChannelAdapter] = {
        Channel.EMAIL: EmailOutbox(settings.files.outbox_dir),
        Channel.SMS: SmsOutbox(
            settings.files.outbox_dir, allow_fiction_range=settings.sms.allow_fiction_range
        ),
        Channel.LETTER: LetterOutbox(settings.files.outbox_dir),
    }
    if settings.email.provider is EmailProvider.SMTP:
        from notifier.channels.smtp import SmtpChannel

        channels[Channel.EMAIL] = SmtpChannel.from_settings(
            settings.email, return_path=return_paths.for_message if return_paths else None
        )
    if settings.sms.provider is not SmsProvider.OUTBOX:
        channels[Channel.SMS] = _sms_channel(settings)
    if settings.letters.provider not in (LetterProvider.OUTBOX, LetterProvider.NOTIFY):
        from notifier.printhouse.channel import SpoolingLetterChannel

        channels[Channel.LETTER] = SpoolingLetterChannel.from_settings(settings.letters, engine)
    channels.update(_notify_channels(settings))
    return channels


def _sms_adapter(settings: Settings, provider: SmsProvider) -> ChannelAdapter:
    if provider is SmsProvider.NOTIFY:
        from notifier.channels.notify import NotifyClient, NotifySmsChannel

        return NotifySmsChannel(
            NotifyClient.from_settings(settings.notify),
            allow_fiction_range=settings.sms.allow_fiction_range,
        )
    from notifier.channels.twilio import TwilioChannel

    return TwilioChannel.from_settings(settings.sms, public_base_url=settings.http.public_base_url)


def _sms_channel(settings: Settings) -> ChannelAdapter:
    """The SMS provider, or two behind a circuit breaker (``NOTIFIER_SMS_SECOND_PROVIDER``)."""
    sms = settings.sms
    first = _sms_adapter(settings, sms.provider)
    if sms.second_provider is None:
        return first
    from notifier.channels.failover import FailoverChannel, Policy

    keys = set(settings.notify.api_keys)

    def second_serves(message: Message) -> bool:
        # Twilio serves every council; Notify only those with a key.
        return sms.second_provider is not SmsProvider.NOTIFY or message.council.code in keys

    return FailoverChannel(
        (str(sms.provider), first),
        (str(sms.second_provider), _sms_adapter(settings, sms.second_provider)),
        policy=Policy(
            window=parse_duration(sms.failover_window),
            threshold=sms.failover_threshold,
            min_requests=sms.failover_min_requests,
            slow=parse_duration(sms.failover_slow),
            cool_off=parse_duration(sms.failover_cool_off),
            ramp=parse_duration(sms.failover_ramp),
        ),
        second_serves=second_serves,
    )


def _notify_channels(settings: Settings) -> dict[Channel, ChannelAdapter]:
    """The email and letter channels that go through GOV.UK Notify, if any."""
    email = settings.email.provider is EmailProvider.NOTIFY
    letter = settings.letters.provider is LetterProvider.NOTIFY
    if not (email or letter):
        return {}
    from notifier.channels.notify import NotifyClient, NotifyEmailChannel, NotifyLetterChannel

    client = NotifyClient.from_settings(settings.notify)
    chosen: dict[Channel, ChannelAdapter] = {}
    if email:
        chosen[Channel.EMAIL] = NotifyEmailChannel(client)
    if letter:
        chosen[Channel.LETTER] = NotifyLetterChannel(client)
    return chosen


def check_notify_councils(settings: Settings, councils: Mapping[str, Council]) -> None:
    """ConfigurationError when Notify is a channel's only provider and a council has no key:
    that council's messages could never be sent (with Notify second, it has the first only)."""
    only = {
        "NOTIFIER_EMAIL_PROVIDER": settings.email.provider is EmailProvider.NOTIFY,
        "NOTIFIER_SMS_PROVIDER": settings.sms.provider is SmsProvider.NOTIFY,
        "NOTIFIER_LETTER_PROVIDER": settings.letters.provider is LetterProvider.NOTIFY,
    }
    missing = sorted(set(councils) - set(settings.notify.api_keys))
    for variable, chosen in only.items():
        if chosen and missing:
            raise ConfigurationError(
                f"NOTIFIER_NOTIFY_API_KEYS: no key for {', '.join(missing)} ({variable}=notify)"
            )


class Service:
    """Everything one ``notifier run`` process holds."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.councils: Mapping[str, Council] = load_councils(settings.files.councils_file)
        check_notify_councils(settings, self.councils)
        self.catalogue = Catalogue.load(settings.files.template_dir)
        self.engine: AsyncEngine = create_engine(settings.store.database_url.get_secret_value())
        self.notifications = NotificationStore(self.engine)
        self.preferences = PreferenceStore(self.engine)
        self.scheduled = ScheduledStore(self.engine)
        # The evidence store, opened (an S3 bucket checked) when run() starts.
        self.evidence: EvidenceStore | None = None
        self.return_paths = (
            ReturnPaths(settings.bounces.key.get_secret_value().encode(), self.councils)
            if settings.bounces.key is not None
            else None
        )
        self.channels = build_channels(settings, self.engine, return_paths=self.return_paths)
        self.links = Links.from_settings(
            settings.links, settings.http, development=settings.store.is_sqlite
        )
        self.broker = Broker.from_settings(settings.worker)
        self.probe = QueueProbe(self.broker)
        self.retries = RetryPolicy(
            settings.worker.retry_delay_seconds, settings.worker.max_attempts
        )
        self._stop = asyncio.Event()

    def processor(self, outcomes: OutcomeSink) -> Processor:
        return Processor(
            catalogue=self.catalogue,
            councils=self.councils,
            lifecycle=Lifecycle(self.notifications, outcomes),
            preferences=self.preferences,
            channels=self.channels,
            retries=self.retries,
            preferences_link=self.links.preferences_link,
            unsubscribe_link=self.links.unsubscribe_link,
            allow_fiction_range=self.settings.sms.allow_fiction_range,
            scheduled=self.scheduled,
            evidence=self.evidence,
            evidence_years=self.settings.store.evidence_years,
            keep_events=self.return_paths is not None,
        )

    def bounce_intake(self) -> Intake | None:
        """The bounce intake, when return paths are signed; it publishes through the broker."""
        if self.return_paths is None:
            return None
        bounces = self.settings.bounces
        return Intake(
            return_paths=self.return_paths,
            lifecycle=Lifecycle(self.notifications, self.broker),
            preferences=self.preferences,
            continue_event=self.broker.continue_event,
            limits=Limits(
                hard=bounces.hard_limit,
                soft=bounces.soft_limit,
                window=bounces.window_seconds,
                max_bytes=bounces.max_size,
            ),
        )

    def _bounce_jobs(self) -> list[Coroutine[Any, Any, None]]:
        """The inbound SMTP listener and the IMAP poller, each when it is configured."""
        intake = self.bounce_intake()
        if intake is None:
            return []
        jobs = []
        if self.settings.bounces.imap_host:
            from notifier.bounces.imap import ImapPoller

            poller = ImapPoller(intake, _mailbox(self.settings))
            jobs.append(poller.poll_forever(self.settings.bounces.imap_poll_seconds))
        if self.settings.bounces.listen:
            jobs.append(_listener(intake, self.settings).serve_until_cancelled())
        return jobs

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
            engine=self.engine,
            catalogue=self.catalogue,
            councils=self.councils,
            links=self.links,
            allow_fiction_range=self.settings.sms.allow_fiction_range,
            outcomes=self.broker,
            evidence=self.evidence,
        )

    def _webhook_routers(self) -> list[APIRouter]:
        """The provider webhooks the configured channels need."""
        routers: list[APIRouter] = []
        sms = self.settings.sms
        if self.settings.notify.callback_tokens:
            from notifier.web.notify import notify_router

            routers.append(
                notify_router(
                    tokens=self.settings.notify.callback_tokens,
                    lifecycle=Lifecycle(self.notifications, self.broker),
                    preferences=self.preferences,
                )
            )
        if sms.uses(SmsProvider.TWILIO):
            from notifier.web.twilio import twilio_router

            assert sms.auth_token is not None  # required with twilio: checked by the settings
            routers.append(
                twilio_router(
                    auth_token=sms.auth_token,
                    public_base_url=self.settings.http.public_base_url,
                    lifecycle=Lifecycle(self.notifications, self.broker),
                    preferences=self.preferences,
                )
            )
        return routers

    def stop(self) -> None:
        self._stop.set()

    async def run(  # noqa: C901  (start in order, stop in the reverse order: one sequence)
        self, *, worker: bool = True, http: bool = True, jobs: bool = True
    ) -> None:
        """Run until stopped by a signal or ``stop()``, then shut down in order. ``jobs``: the
        scheduled work (retention purge, letter cut-off, print reports) and any extra worker
        processes; off in those extra processes themselves, so it runs once."""
        self.evidence = await open_evidence(self.settings.store)
        if self.settings.store.is_sqlite:
            await migrate.upgrade(self.engine)
        server = (
            _Server(
                uvicorn.Config(
                    self.http_app(),
                    host=self.settings.http.host,
                    port=self.settings.http.port,
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
                if http:
                    # The gauges that need a look at the database or the broker, refreshed by
                    # the processes that serve /metrics; the letters' counts only by the one
                    # that runs the scheduled jobs, not by every scaled replica.
                    printing = self.settings.letters.provider is not LetterProvider.OUTBOX
                    letters = printing and worker and jobs
                    tasks.append(
                        asyncio.create_task(
                            observe_store_periodically(self.engine, letters=letters)
                        )
                    )
                    tasks.append(asyncio.create_task(self.probe.run()))
                if worker and jobs:
                    background = scheduled_jobs(
                        self.settings.letters,
                        self.engine,
                        self.notifications,
                        self.broker,
                        retention_days=self.settings.store.retention_days,
                        bounce_window=self.settings.bounces.window_seconds
                        if self.return_paths
                        else None,
                    )
                    background.extend(notify_jobs(self.settings, self.notifications, self.broker))
                    background.extend(self._bounce_jobs())
                    if self.settings.worker.processes > 1:
                        background.append(
                            supervise_workers(
                                self.settings.worker.processes - 1,
                                grace=self.settings.worker.shutdown_grace + 10,
                            )
                        )
                    tasks.extend(asyncio.create_task(job) for job in background)
                if worker:
                    consumer = Worker(
                        self.broker,
                        self.processor(self.broker),
                        retries=self.retries,
                        concurrency=self.settings.worker.concurrency,
                        max_deliveries=self.settings.worker.max_deliveries,
                        probe=self.probe,
                    )
                    await consumer.start()
                    release = release_scheduled(self.scheduled, self.broker.release)
                    tasks.append(asyncio.create_task(release))
                log.info(
                    "service.started",
                    worker=worker,
                    http=http,
                    port=self.settings.http.port if http else None,
                )
                stopped = asyncio.create_task(self._stop.wait())
                await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
                stopped.cancel()
            finally:
                log.info("service.stopping")
                if consumer is not None:
                    await consumer.stop(self.settings.worker.shutdown_grace)
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


def _listener(intake: Intake, settings: Settings) -> Listener:
    """The inbound SMTP listener the bounces part describes."""
    from notifier.bounces.listener import Listener, server_context

    bounces = settings.bounces
    tls = None
    if bounces.tls_cert_file is not None and bounces.tls_key_file is not None:
        tls = server_context(bounces.tls_cert_file, bounces.tls_key_file)
    return Listener(
        intake,
        host=bounces.host,
        port=bounces.port,
        max_size=bounces.max_size,
        hostname=bounces.hostname,
        tls_context=tls,
    )


def _mailbox(settings: Settings) -> Mailbox:
    """The bounce mailbox the bounces part describes; XOAUTH2 with the SMTP channel's token
    provider when NOTIFIER_BOUNCE_IMAP_OAUTH is on."""
    import ssl

    from notifier.bounces.imap import Mailbox
    from notifier.channels.smtp import token_provider_for

    bounces = settings.bounces
    assert bounces.imap_host is not None and bounces.imap_username is not None
    context = None
    if bounces.imap_ca_file is not None:
        context = ssl.create_default_context(cafile=str(bounces.imap_ca_file))
    password = bounces.imap_password
    return Mailbox(
        host=bounces.imap_host,
        port=bounces.imap_port,
        username=bounces.imap_username,
        password=password.get_secret_value() if password is not None else None,
        token_provider=token_provider_for(settings.email) if bounces.imap_oauth else None,
        tls=bounces.imap_tls,
        folder=bounces.imap_folder,
        processed=bounces.imap_processed_folder,
        refused=bounces.imap_refused_folder,
        batch=bounces.imap_batch,
        tls_context=context,
    )


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
