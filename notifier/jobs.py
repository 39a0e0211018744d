"""The scheduled work of the service process: the retention purge, the daily print cut-off and
the polling of print reports. Run once per deployment (the service process, not extra workers)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.outcomes import OutcomeSink
from notifier.settings import LetterProvider, LetterSettings
from notifier.store.notifications import NotificationStore
from notifier.store.scheduled import ScheduledEvent, ScheduledStore

log = structlog.get_logger("notifier.jobs")

PURGE_EVERY = 3600.0


async def purge_periodically(
    notifications: NotificationStore, retention_days: int, every: float = PURGE_EVERY
) -> None:
    """Forget contact details past the retention period, hourly (the history stays)."""
    while True:
        cutoff = datetime.now(UTC) - timedelta(days=retention_days)
        try:
            purged = await notifications.purge_personal_data(cutoff)
            if purged:
                log.info("retention.purged", count=purged)
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


def letter_jobs(
    letters: LetterSettings, engine: AsyncEngine, outcomes: OutcomeSink
) -> list[Coroutine[Any, Any, None]]:
    """The daily print cut-off and the polling of print reports (with a real print provider)."""
    if letters.provider is LetterProvider.OUTBOX:
        return []
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
) -> list[Coroutine[Any, Any, None]]:
    """Every job the service process runs beside its worker."""
    return [
        purge_periodically(notifications, retention_days),
        *letter_jobs(letters, engine, outcomes),
    ]
