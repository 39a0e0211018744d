"""The scheduled work of the service process: the retention purge, the daily print cut-off and
the polling of print reports. Run once per deployment (the service process, not extra workers)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier import metrics
from notifier.outcomes import OutcomeSink
from notifier.settings import LetterProvider, LetterSettings
from notifier.store.gauges import letter_counts, oldest_handed_over, round_trip
from notifier.store.notifications import NotificationStore

log = structlog.get_logger("notifier.jobs")

PURGE_EVERY = 3600.0
OBSERVE_EVERY = 15.0


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
