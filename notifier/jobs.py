"""The scheduled work of the service process: the retention purge, the daily print cut-off, the
polling of print reports and of GOV.UK Notify for councils without callbacks. Run once per
deployment (the service process, not extra workers)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier import metrics
from notifier.lifecycle import Lifecycle
from notifier.model import Status
from notifier.outcomes import OutcomeSink
from notifier.settings import (
    EmailProvider,
    LetterProvider,
    LetterSettings,
    Settings,
    SmsProvider,
)
from notifier.store.gauges import letter_counts, oldest_handed_over, round_trip
from notifier.store.notifications import NotificationStore
from notifier.store.scheduled import ScheduledEvent, ScheduledStore

if TYPE_CHECKING:
    from notifier.channels.notify import NotifyClient

log = structlog.get_logger("notifier.jobs")

PURGE_EVERY = 3600.0
OBSERVE_EVERY = 15.0


async def purge_periodically(
    notifications: NotificationStore,
    retention_days: int,
    every: float = PURGE_EVERY,
    *,
    bounce_window: float | None = None,
) -> None:
    """Forget contact details past the retention period, and events kept for bounces past the
    bounce window (``bounce_window`` seconds), hourly (the history stays)."""
    while True:
        now = datetime.now(UTC)
        try:
            purged = await notifications.purge_personal_data(now - timedelta(days=retention_days))
            if purged:
                log.info("retention.purged", count=purged)
            if bounce_window is not None:
                kept = await notifications.purge_kept_events(now - timedelta(seconds=bounce_window))
                if kept:
                    log.info("retention.kept_events_purged", count=kept)
        except Exception as exc:
            log.warning("retention.purge_failed", error=type(exc).__name__)
        await asyncio.sleep(every)


# Often, so a send time is kept to the second; the query is one indexed look-up.
RELEASE_EVERY = 1.0


async def release_scheduled(
    store: ScheduledStore,
    publish: Callable[[ScheduledEvent], Awaitable[None]],
    *,
    every: float = RELEASE_EVERY,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Put events whose send time has come back on the work queue, every ``every`` seconds.
    Every worker process runs this; each kept event is released by one of them."""
    while True:
        try:
            released = await store.release_due(clock(), publish)
            if released:
                log.info("scheduled.released", count=released)
        except Exception as exc:
            log.warning("scheduled.release_failed", error=type(exc).__name__)
        await asyncio.sleep(every)


async def observe_store(engine: AsyncEngine, *, letters: bool) -> None:
    """One probe of the database: its round trip, and (with a print provider) the letters'
    counts, into their gauges."""
    seconds = await round_trip(engine)
    metrics.DATABASE_UP.set(0 if seconds is None else 1)
    if seconds is None:
        return
    metrics.DATABASE_ROUND_TRIP.observe(seconds)
    if letters:
        try:
            counts = await letter_counts(engine)
            oldest = await oldest_handed_over(engine)
        except Exception as exc:
            log.warning("metrics.letters_failed", error=type(exc).__name__)
            return
        for state in metrics.LETTER_STATES:
            metrics.LETTERS.labels(state=state).set(counts.get(state, 0))
        age = 0.0 if oldest is None else (datetime.now(UTC) - oldest).total_seconds()
        metrics.LETTERS_OLDEST_HANDED_OVER.set(max(0.0, age))


async def observe_store_periodically(
    engine: AsyncEngine, *, letters: bool, every: float = OBSERVE_EVERY
) -> None:
    """``observe_store`` every ``every`` seconds, in each process that serves ``/metrics``."""
    while True:
        await observe_store(engine, letters=letters)
        await asyncio.sleep(every)


def letter_jobs(
    letters: LetterSettings, engine: AsyncEngine, outcomes: OutcomeSink
) -> list[Coroutine[Any, Any, None]]:
    """The daily print cut-off and the polling of print reports (with a real print provider)."""
    if letters.provider in (LetterProvider.OUTBOX, LetterProvider.NOTIFY):
        return []  # nothing to dispatch: Notify prints and posts
    from notifier.printhouse.dispatch import build_dispatcher, dispatch_daily
    from notifier.printhouse.reports import build_poller, poll_reports_forever

    jobs = [dispatch_daily(build_dispatcher(letters, engine, outcomes), letters.cutoff_time)]
    if letters.report_dir:
        poller = build_poller(letters, engine, outcomes)
        jobs.append(poll_reports_forever(poller, letters.report_poll_seconds))
    return jobs


def scheduled_jobs(
    letters: LetterSettings,
    engine: AsyncEngine,
    notifications: NotificationStore,
    outcomes: OutcomeSink,
    *,
    retention_days: int,
    bounce_window: float | None = None,
) -> list[Coroutine[Any, Any, None]]:
    """Every job the service process runs beside its worker."""
    return [
        purge_periodically(notifications, retention_days, bounce_window=bounce_window),
        *letter_jobs(letters, engine, outcomes),
    ]


def is_notify_id(provider_ref: str | None) -> bool:
    """Whether ``provider_ref`` is a Notify notification id (a UUID; Twilio's start SM)."""
    try:
        uuid.UUID(provider_ref or "")
    except ValueError:
        return False
    return True


def notify_polled_channels(settings: Settings, council: str) -> list[str]:
    """The channels of ``council`` whose Notify statuses are polled: email and text when it has
    no callback token, letters always (Notify sends no receipt for a letter)."""
    channels = []
    callbacks = council in settings.notify.callback_tokens
    if settings.email.provider is EmailProvider.NOTIFY and not callbacks:
        channels.append("email")
    if settings.sms.uses(SmsProvider.NOTIFY) and not callbacks:
        channels.append("sms")
    if settings.letters.provider is LetterProvider.NOTIFY:
        channels.append("letter")
    return channels


async def poll_notify_once(
    settings: Settings, client: NotifyClient, lifecycle: Lifecycle
) -> dict[str, int]:
    """Ask Notify, by reference, about every notification still ``sending`` through it on a
    polled channel, and move each through the lifecycle as a receipt would; counts by result."""
    from notifier.web.notify import apply_report

    counts = {"asked": 0, "moved": 0}
    for council in client.accounts:
        channels = notify_polled_channels(settings, council)
        if not channels:
            continue
        rows = await lifecycle.notifications.in_status(
            Status.SENDING, council=council, channels=channels
        )
        for row in rows:
            if not is_notify_id(row.provider_ref):
                continue  # sent through the other SMS provider: not Notify's to answer
            counts["asked"] += 1
            for report in await client.by_reference(council, row.id):
                if await apply_report(lifecycle, council, report, source="notify-poll"):
                    counts["moved"] += 1
    return counts


async def poll_notify_forever(
    settings: Settings, client: NotifyClient, lifecycle: Lifecycle
) -> None:
    """``poll_notify_once`` every ``NOTIFIER_NOTIFY_POLL_INTERVAL``."""
    from notifier.errors import DeliveryFailure

    while True:
        try:
            counts = await poll_notify_once(settings, client, lifecycle)
            log.info("notify.polled", **counts)
        except DeliveryFailure as exc:
            log.warning("notify.poll_failed", code=exc.code)
        await asyncio.sleep(settings.notify.poll_seconds)


def notify_jobs(
    settings: Settings, notifications: NotificationStore, outcomes: OutcomeSink
) -> list[Coroutine[Any, Any, None]]:
    """The Notify poll, when some council's channel through Notify has no callbacks."""
    if not settings.notify.api_keys or not any(
        notify_polled_channels(settings, council) for council in settings.notify.api_keys
    ):
        return []
    from notifier.channels.notify import NotifyClient

    client = NotifyClient.from_settings(settings.notify)
    return [poll_notify_forever(settings, client, Lifecycle(notifications, outcomes))]
