"""Processing one event: the imperative shell around the pure plan.

It reads (preferences, existing notifications), calls ``planning.plan``, sends through the
channels, records every status change durably, publishes outcomes, and returns a Verdict that the
worker's settlement table turns into ack, delayed retry or dead-letter. No AMQP here.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

import structlog

from notifier import events, metrics
from notifier.channels.base import Channel as ChannelAdapter
from notifier.errors import DeliveryFailure, InvalidEvent, PermanentFailure, TemporaryFailure
from notifier.messages import SmsMessage
from notifier.model import Channel, Council, Status
from notifier.outcomes import OutcomeSink, publish_outcome
from notifier.planning import LinkMaker, Plan, plan
from notifier.preferences.store import PreferenceStore
from notifier.store.notifications import NewNotification, Notification, NotificationStore
from notifier.templates.source import Catalogue

log = structlog.get_logger("notifier.processing")

NO_CHANNEL = "none"
# Statuses after which a repeated event has nothing left to do on that channel.
_DONE = frozenset(
    {
        Status.SENDING,
        Status.SENT,
        Status.DELIVERED,
        Status.POSTED,
        Status.RETURNED,
        Status.SUPPRESSED,
    }
)


@dataclasses.dataclass(frozen=True, slots=True)
class Delivery:
    """One message as taken from the work queue."""

    body: bytes
    content_type: str | None = None
    attempt: int = 0  # times this event was put back through a delay queue
    redelivered: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Ack:
    outcome: str


@dataclasses.dataclass(frozen=True, slots=True)
class Retry:
    delay: float
    reason: str
    channel: str = NO_CHANNEL


@dataclasses.dataclass(frozen=True, slots=True)
class Dead:
    reason: str
    detail: str


Verdict = Ack | Retry | Dead


class Processor:
    """Turns one delivery into sent messages, durable records and a verdict."""

    def __init__(
        self,
        *,
        catalogue: Catalogue,
        councils: Mapping[str, Council],
        notifications: NotificationStore,
        preferences: PreferenceStore,
        channels: Mapping[Channel, ChannelAdapter],
        outcomes: OutcomeSink,
        retry_delays: tuple[float, ...],
        max_attempts: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        preferences_link: LinkMaker | None = None,
        unsubscribe_link: LinkMaker | None = None,
        allow_fiction_range: bool = False,
    ) -> None:
        self.catalogue = catalogue
        self._known_types = frozenset(catalogue.event_types())
        self.councils = councils
        self.notifications = notifications
        self.preferences = preferences
        self.channels = channels
        self.outcomes = outcomes
        self.retry_delays = retry_delays
        self.max_attempts = max_attempts
        self.clock = clock
        self.allow_fiction_range = allow_fiction_range
        self.links = {
            k: v
            for k, v in (
                ("preferences_link", preferences_link),
                ("unsubscribe_link", unsubscribe_link),
            )
            if v
        }

    async def handle(self, delivery: Delivery) -> Verdict:
        """Process one delivery; only returns once every record it made is durable."""
        try:
            event = events.parse(delivery.body, delivery.content_type)
        except InvalidEvent as exc:
            return Dead(exc.reason, exc.detail)
        structlog.contextvars.bind_contextvars(
            event_id=event.id,
            event_type=event.type,
            council=event.council,
            attempt=delivery.attempt,
        )
        metrics.EVENTS.labels(
            event_type=event.type if event.type in self._known_types else "unknown"
        ).inc()
        customer_id = event.recipient.customer_id
        stored = await self.preferences.get(event.council, customer_id) if customer_id else None
        now = self.clock()
        try:
            decided = plan(
                event,
                stored,
                catalogue=self.catalogue,
                councils=self.councils,
                now=now,
                allow_fiction_range=self.allow_fiction_range,
                **self.links,
            )
        except InvalidEvent as exc:
            return Dead(exc.reason, exc.detail)
        replay = delivery.redelivered or delivery.attempt > 0
        # A first delivery needs no read: the unique constraint answers "seen before?" when the
        # notification is created. Replays (and suppressions, rare) look at what is there.
        existing = (
            {n.channel: n for n in await self.notifications.for_event(event.source, event.id)}
            if replay or decided.suppression is not None
            else {}
        )
        if decided.suppression is not None:
            return await self._suppress(event, decided, existing, replay)
        if replay:  # preferences may have changed while it waited: close channels now unused
            await self._close_pending(existing, decided.order, "preferences-changed")
        last_failure: DeliveryFailure | None = None
        for channel in decided.order:
            row = existing.get(channel)
            if row is not None:
                if row.status is Status.SUPPRESSED:
                    continue  # closed by the policy while it waited, not sent: carry on
                if row.status in _DONE:
                    if replay:  # the earlier run may have died before publishing its outcome
                        await self._publish(row, row.status, row.reason)
                    return Ack("duplicate")
                if row.status.is_failure:
                    continue  # this channel was tried and failed: fall back
                if not replay:
                    return Ack("duplicate")  # a copy of an event another delivery is handling
            else:
                row = await self.notifications.create(self._new(event, decided, channel))
                if row is None:
                    return Ack("duplicate")  # lost the insert race to a concurrent copy
            structlog.contextvars.bind_contextvars(notification_id=row.id, channel=str(channel))
            unusable = decided.unusable.get(channel)
            if unusable is not None:  # its contact detail breaks its rule: record, fall back
                await self._record(row, Status.PERMANENT_FAILURE, unusable.code, source="policy")
                last_failure = unusable
                continue
            opens = decided.not_before.get(channel)
            if opens is not None and opens > now:
                await self.notifications.note(row.id, source="policy", reason="quiet-hours")
                return Retry((opens - now).total_seconds(), "quiet-hours", str(channel))
            verdict, last_failure = await self._send(channel, row, decided)
            if verdict is not None:
                if isinstance(verdict, Ack):
                    await self._close_pending(existing, (channel,), "sent-by-another-channel")
                return verdict
        if last_failure is not None and not isinstance(last_failure, PermanentFailure):
            return Dead("delivery-failed", f"every channel failed; last: {last_failure.code}")
        return Ack("failed")

    async def _send(
        self, channel: Channel, row: Notification, decided: Plan
    ) -> tuple[Verdict | None, DeliveryFailure | None]:
        message = decided.drafts[channel].addressed(row.id)
        adapter = self.channels[channel]
        started = time.perf_counter()
        try:
            receipt = await adapter.send(message)
        except DeliveryFailure as failure:
            metrics.SEND_SECONDS.labels(channel=str(channel)).observe(time.perf_counter() - started)
            if failure.retryable and row.attempts + 1 < self.max_attempts:
                await self.notifications.note(
                    row.id, source=str(channel), reason=f"retry:{failure.code}", attempt=True
                )
                delay = self.retry_delays[min(row.attempts, len(self.retry_delays) - 1)]
                return Retry(delay, failure.code, str(channel)), failure
            if isinstance(failure, PermanentFailure):
                status = Status.PERMANENT_FAILURE
            elif isinstance(failure, TemporaryFailure):
                status = Status.TEMPORARY_FAILURE
            else:
                status = Status.TECHNICAL_FAILURE
            await self._record(row, status, failure.code, source=str(channel))
            if failure.code == "opted-out" and isinstance(message, SmsMessage):
                await self.preferences.opt_out_sms([message.to], opted_out=True, actor="twilio")
            return None, failure
        metrics.SEND_SECONDS.labels(channel=str(channel)).observe(time.perf_counter() - started)
        await self._record(
            row,
            receipt.status,
            None,
            source=str(channel),
            provider_ref=receipt.provider_ref,
            fragments=receipt.fragments,
        )
        return Ack(str(receipt.status)), None

    async def _suppress(
        self,
        event: events.CaseEvent,
        decided: Plan,
        existing: Mapping[str, Notification],
        replay: bool,
    ) -> Verdict:
        assert decided.suppression is not None
        reason = decided.suppression.reason
        if any(r.status in _DONE for c, r in existing.items() if c != NO_CHANNEL):
            return Ack("duplicate")  # sent (or closed) before the preferences changed
        if any(r.status is Status.CREATED for r in existing.values()):
            if not replay:
                return Ack("duplicate")  # a copy of an event another delivery is handling
            # It waited (quiet hours, a retry) and may no longer be sent: close what waited.
            await self._close_pending(existing, (), reason)
            return Ack("suppressed")
        row = existing.get(NO_CHANNEL)
        if row is None:
            row = await self.notifications.create(
                self._new(event, decided, NO_CHANNEL, status=Status.SUPPRESSED, reason=reason)
            )
            if row is None:
                return Ack("duplicate")
        elif not replay:
            return Ack("duplicate")
        metrics.NOTIFICATIONS.labels(channel=NO_CHANNEL, status=str(Status.SUPPRESSED)).inc()
        await self._publish(row, Status.SUPPRESSED, reason)
        return Ack("suppressed")

    async def _close_pending(
        self, existing: Mapping[str, Notification], keep: Iterable[Channel], reason: str
    ) -> None:
        """Suppress notifications left waiting ('created') on channels other than ``keep``."""
        kept = {str(c) for c in keep}
        for channel, row in existing.items():
            if row.status is Status.CREATED and channel not in kept:
                await self._record(row, Status.SUPPRESSED, reason, source="policy")

    def _new(
        self,
        event: events.CaseEvent,
        decided: Plan,
        channel: Channel | str,
        *,
        status: Status = Status.CREATED,
        reason: str | None = None,
    ) -> NewNotification:
        draft = decided.drafts.get(channel) if isinstance(channel, Channel) else None
        return NewNotification(
            event_source=event.source,
            event_id=event.id,
            event_type=event.type,
            council=event.council,
            channel=str(channel),
            customer_id=event.recipient.customer_id,
            case_reference=event.subject,
            template=decided.template.event_type,
            template_version=decided.template.version,
            recipient=draft.contact if draft is not None else None,
            postage=(event.postage or decided.template.postage)
            if channel == Channel.LETTER
            else None,
            status=status,
            reason=reason,
        )

    async def _record(
        self,
        row: Notification,
        status: Status,
        reason: str | None,
        *,
        source: str,
        provider_ref: str | None = None,
        fragments: int | None = None,
    ) -> None:
        applied = await self.notifications.record(
            row.id,
            status,
            source=source,
            reason=reason,
            provider_ref=provider_ref,
            fragments=fragments,
        )
        if applied:
            metrics.NOTIFICATIONS.labels(channel=row.channel, status=str(status)).inc()
            await self._publish(row, status, reason)

    async def _publish(self, row: Notification, status: Status, reason: str | None) -> None:
        await publish_outcome(self.outcomes, row, status, reason, self.clock())
