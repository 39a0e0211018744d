"""The scheduled work of the service process: the retention purge, the daily print cut-off and
the polling of print reports. Run once per deployment (the service process, not extra workers)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.outcomes import OutcomeSink
from notifier.settings import LetterProvider, LetterSettings
from notifier.store.notifications import NotificationStore

log = structlog.get_logger("notifier.jobs")

PURGE_EVERY = 3600.0


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
    bounce_window: float | None = None,
) -> list[Coroutine[Any, Any, None]]:
    """Every job the service process runs beside its worker."""
    return [
        purge_periodically(notifications, retention_days, bounce_window=bounce_window),
        *letter_jobs(letters, engine, outcomes),
    ]
