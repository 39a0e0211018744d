"""The one place a notification changes status.

Every status change, from the worker, a provider's webhook, the letter dispatch or a print report,
goes through ``Lifecycle``, which does four things together: the store applies the forward-only
rule (``model.may_move``: terminal statuses never move back, late receipts are kept in the history
but change nothing) and writes the history row in the same transaction; then, only for a change
that was applied, ``notifier_notifications_total`` is counted and the outcome event is published.
So a receipt that arrives after the send is counted exactly like the send itself.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from notifier import metrics
from notifier.model import Status
from notifier.outcomes import OutcomeSink, publish_outcome
from notifier.store.notifications import NewNotification, Notification, NotificationStore


class Lifecycle:
    """Status changes of notifications: the rule, the history, the metric and the outcome."""

    def __init__(
        self,
        notifications: NotificationStore,
        outcomes: OutcomeSink,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.notifications = notifications
        self.outcomes = outcomes
        self.clock = clock

    async def create(self, new: NewNotification) -> Notification | None:
        """A new notification; None when the event already has one on that channel. One created
        straight into a final status (a suppression, a detail found unusable) is counted and
        announced like any other change."""
        row = await self.notifications.create(new)
        if row is not None and new.status is not Status.CREATED:
            await self._changed(row, new.status, new.reason)
        return row

    async def move(
        self,
        row: Notification,
        status: Status,
        *,
        source: str,
        reason: str | None = None,
        provider_ref: str | None = None,
        fragments: int | None = None,
        pages: int | None = None,
    ) -> bool:
        """Move ``row`` to ``status`` if the lifecycle allows it; True when it moved."""
        applied = await self.notifications.record(
            row.id,
            status,
            source=source,
            reason=reason,
            provider_ref=provider_ref,
            fragments=fragments,
            pages=pages,
        )
        if applied:
            await self._changed(row, status, reason)
        return applied

    async def move_id(
        self,
        notification_id: str,
        status: Status,
        *,
        source: str,
        reason: str | None = None,
        provider_ref: str | None = None,
        pages: int | None = None,
    ) -> Notification | None:
        """``move`` for a notification known only by id (a print report, a batch); the row as it
        now stands when it moved, else None."""
        applied = await self.notifications.record(
            notification_id,
            status,
            source=source,
            reason=reason,
            provider_ref=provider_ref,
            pages=pages,
        )
        if not applied:
            return None
        row = await self.notifications.get(notification_id)
        if row is not None:
            await self._changed(row, status, reason)
        return row

    async def intend(self, row: Notification, *, source: str) -> bool:
        """Record that a send to the provider begins (``sending``, no provider reference, the
        attempt's start time), durably, before the provider is called. Not counted and not
        announced: it is not an outcome; the provider's receipt that follows is, and a replay
        that finds only the intent reconciles with the provider (docs/events.md). False when
        the notification was cancelled since it was read: then nothing may be sent."""
        return await self.notifications.intend(row.id, source=source)

    async def note(
        self,
        row: Notification,
        *,
        source: str,
        reason: str,
        attempt: bool = False,
        sent_nothing: bool = False,
    ) -> None:
        """A history entry that changes no status (a retry scheduled, a wait for quiet hours);
        ``sent_nothing``: the failed attempt never reached the provider (its intent is void)."""
        await self.notifications.note(
            row.id, source=source, reason=reason, attempt=attempt, sent_nothing=sent_nothing
        )

    async def announce(self, row: Notification, *, reason: str | None = None) -> None:
        """Publish ``row``'s current status again, uncounted: a replayed event whose earlier run
        may have died between its record and its outcome; with ``reason``, what became of the
        event since (``too-late``: a withdrawal came after the message was handed over;
        ``no-channel-left``: a bounce left it no channel to continue on)."""
        await publish_outcome(self.outcomes, row, row.status, reason or row.reason, self.clock())

    async def _changed(self, row: Notification, status: Status, reason: str | None) -> None:
        metrics.NOTIFICATIONS.labels(
            channel=row.channel, council=row.council, status=str(status)
        ).inc()
        await publish_outcome(self.outcomes, row, status, reason, self.clock())
