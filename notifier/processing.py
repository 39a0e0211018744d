"""Processing one event: the imperative shell around the pure plan.

It reads (preferences, the event's existing notifications), calls ``planning.plan``, sends through
the channels, moves each notification through ``lifecycle``, and returns a Verdict that the
worker's settlement table turns into ack, delayed retry or dead-letter. No AMQP here.

What a repeated event does on each channel is the pure ``step_for`` table; what a failure does is
its class (``errors``: each carries its status) and the ``RetryPolicy``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from enum import StrEnum

import structlog

from notifier import events, metrics
from notifier.channels.base import Channel as ChannelAdapter
from notifier.errors import DeliveryFailure, InvalidEvent, OptedOut, PermanentFailure
from notifier.lifecycle import Lifecycle
from notifier.messages import SmsMessage
from notifier.model import Channel, Council, Status
from notifier.planning import LinkMaker, Plan, plan
from notifier.preferences.store import PreferenceStore
from notifier.retries import RetryPolicy
from notifier.store.notifications import NewNotification, Notification
from notifier.templates.source import Catalogue

log = structlog.get_logger("notifier.processing")

NO_CHANNEL = "none"


@dataclasses.dataclass(frozen=True, slots=True)
class Delivery:
    """One message as taken from the work queue. ``attempt``: the failed attempts before this
    one (the retry policy's counter); ``replay``: the event may have been seen before (a
    redelivery, or its return from a delay queue)."""

    body: bytes
    content_type: str | None = None
    attempt: int = 0
    replay: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Ack:
    outcome: str


@dataclasses.dataclass(frozen=True, slots=True)
class Retry:
    """Back through a delay queue. ``counts``: whether it uses up an attempt (a failure does;
    a wait for quiet hours does not)."""

    delay: float
    reason: str
    channel: str = NO_CHANNEL
    counts: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class Dead:
    reason: str
    detail: str


Verdict = Ack | Retry | Dead


class Step(StrEnum):
    """What to do on one channel of an event, given what that channel already holds."""

    SEND = "send"  # nothing yet: create the notification and send it
    RESUME = "resume"  # left waiting by an earlier run of this event: send it now
    SKIP = "skip"  # closed by the policy while the event waited: try the next channel
    FALL_BACK = "fall-back"  # tried and failed: try the next channel
    DONE = "done"  # handed to a provider already: nothing left to send
    DUPLICATE = "duplicate"  # a copy of an event that another delivery is handling


def step_for(existing: Status | None, replay: bool) -> Step:
    """The step for a channel whose notification is in ``existing`` (None: there is none)."""
    if existing is None:
        return Step.SEND
    if existing is Status.SUPPRESSED:
        return Step.SKIP
    if existing.is_failure:
        return Step.FALL_BACK
    if existing is Status.CREATED:
        return Step.RESUME if replay else Step.DUPLICATE
    return Step.DONE


def _every_channel_failed(last: DeliveryFailure | None) -> Verdict:
    """No channel took the message: settled as failed when the last failure was the recipient's
    for good; dead-lettered, for replay once fixed, when it was ours or the provider's."""
    if last is not None and not isinstance(last, PermanentFailure):
        return Dead("delivery-failed", f"every channel failed; last: {last.code}")
    return Ack("failed")


class Processor:
    """Turns one delivery into sent messages, durable records and a verdict."""

    def __init__(
        self,
        *,
        catalogue: Catalogue,
        councils: Mapping[str, Council],
        lifecycle: Lifecycle,
        preferences: PreferenceStore,
        channels: Mapping[Channel, ChannelAdapter],
        retries: RetryPolicy,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        preferences_link: LinkMaker | None = None,
        unsubscribe_link: LinkMaker | None = None,
        allow_fiction_range: bool = False,
        keep_events: bool = False,
    ) -> None:
        self.catalogue = catalogue
        self._known_types = frozenset(catalogue.event_types())
        self.councils = councils
        self.lifecycle = lifecycle
        self.notifications = lifecycle.notifications
        self.preferences = preferences
        self.channels = channels
        self.retries = retries
        self.clock = clock
        self.allow_fiction_range = allow_fiction_range
        # Keep the event with each email notification, for a bounce to continue it later.
        self.keep_events = keep_events
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
        replay = delivery.replay or delivery.attempt > 0
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
        kept = delivery.body.decode("utf-8") if self.keep_events else None
        return await self._deliver(event, decided, existing, replay, delivery.attempt, now, kept)

    async def _deliver(
        self,
        event: events.CaseEvent,
        decided: Plan,
        existing: Mapping[str, Notification],
        replay: bool,
        attempt: int,
        now: datetime,
        kept: str | None = None,
    ) -> Verdict:
        """Each channel in the customer's order until one takes the message."""
        last_failure: DeliveryFailure | None = None
        for channel in decided.order:
            row = existing.get(channel)
            step = step_for(row.status if row else None, replay)
            if step in (Step.SKIP, Step.FALL_BACK):
                continue
            if step in (Step.DONE, Step.DUPLICATE):
                if step is Step.DONE and replay and row is not None:
                    await self.lifecycle.announce(row)  # the last run may have died before it
                return Ack("duplicate")
            if row is None:
                unusable = decided.unusable.get(channel)
                new = self._new(event, decided, channel, unusable, kept=kept)
                row = await self.lifecycle.create(new)
                if row is None:
                    return Ack("duplicate")  # lost the insert race to a concurrent copy
                if unusable is not None:
                    last_failure = unusable
                    continue
            structlog.contextvars.bind_contextvars(notification_id=row.id, channel=str(channel))
            verdict, failure = await self._attempt(channel, row, decided, attempt, now)
            if verdict is not None:
                if isinstance(verdict, Ack):
                    await self._close_pending(existing, (channel,), "sent-by-another-channel")
                return verdict
            last_failure = failure
        return await self._no_channel_left(last_failure, existing, decided.order, replay)

    async def _no_channel_left(
        self,
        last: DeliveryFailure | None,
        existing: Mapping[str, Notification],
        order: Iterable[Channel],
        replay: bool,
    ) -> Verdict:
        """No channel took the message. When none was even tried (the event was continued
        after a later failure, a bounce, and no channel is left), the failed notification's
        outcome says ``no-channel-left``, so the council system can act."""
        for channel in () if last is not None else order:
            row = existing.get(channel)
            if row is not None and step_for(row.status, replay) is Step.FALL_BACK:
                await self.lifecycle.announce(row, reason="no-channel-left")
                break
        return _every_channel_failed(last)

    async def _attempt(
        self, channel: Channel, row: Notification, decided: Plan, attempt: int, now: datetime
    ) -> tuple[Verdict | None, DeliveryFailure | None]:
        """Send on one channel: a verdict that ends the event, or the failure to fall back on."""
        opens = decided.not_before.get(channel)
        if opens is not None and opens > now:
            await self.lifecycle.note(row, source="policy", reason="quiet-hours")
            wait = (opens - now).total_seconds()
            return Retry(wait, "quiet-hours", str(channel), counts=False), None
        message = decided.drafts[channel].addressed(row.id)
        started = time.perf_counter()
        try:
            receipt = await self.channels[channel].send(message)
        except DeliveryFailure as failure:
            metrics.SEND_SECONDS.labels(channel=str(channel)).observe(time.perf_counter() - started)
            delay = self.retries.delay(attempt) if failure.retryable else None
            if delay is not None:
                await self.lifecycle.note(
                    row, source=str(channel), reason=f"retry:{failure.code}", attempt=True
                )
                return Retry(delay, failure.code, str(channel)), failure
            await self.lifecycle.move(row, failure.status, source=str(channel), reason=failure.code)
            if isinstance(failure, OptedOut) and isinstance(message, SmsMessage):
                await self.preferences.opt_out_sms([message.to], opted_out=True, actor="twilio")
            return None, failure
        metrics.SEND_SECONDS.labels(channel=str(channel)).observe(time.perf_counter() - started)
        await self.lifecycle.move(
            row,
            receipt.status,
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
        steps = {step_for(r.status, replay) for c, r in existing.items() if c != NO_CHANNEL}
        if steps & {Step.DONE, Step.SKIP, Step.DUPLICATE}:
            return Ack("duplicate")  # sent or closed before the preferences changed, or in hand
        if Step.RESUME in steps:
            # It waited (quiet hours, a retry) and may no longer be sent: close what waited.
            await self._close_pending(existing, (), reason)
            return Ack("suppressed")
        row = existing.get(NO_CHANNEL)
        if row is None:
            new = self._new(event, decided, NO_CHANNEL, status=Status.SUPPRESSED, reason=reason)
            if await self.lifecycle.create(new) is None:
                return Ack("duplicate")
            return Ack("suppressed")
        if not replay:
            return Ack("duplicate")
        await self.lifecycle.announce(row)
        return Ack("suppressed")

    async def _close_pending(
        self, existing: Mapping[str, Notification], keep: Iterable[Channel], reason: str
    ) -> None:
        """Suppress notifications left waiting ('created') on channels other than ``keep``."""
        kept = {str(c) for c in keep}
        for channel, row in existing.items():
            if row.status is Status.CREATED and channel not in kept:
                await self.lifecycle.move(row, Status.SUPPRESSED, source="policy", reason=reason)

    def _new(
        self,
        event: events.CaseEvent,
        decided: Plan,
        channel: Channel | str,
        unusable: DeliveryFailure | None = None,
        *,
        status: Status = Status.CREATED,
        reason: str | None = None,
        kept: str | None = None,
    ) -> NewNotification:
        """The notification to create on ``channel``; straight into its failure if the plan
        found the channel's contact detail unusable."""
        draft = decided.drafts.get(channel) if isinstance(channel, Channel) else None
        if unusable is not None:
            status, reason = unusable.status, unusable.code
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
            kept_event=kept if channel == Channel.EMAIL and unusable is None else None,
        )
