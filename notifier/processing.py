"""Processing one event: the imperative shell around the pure plan.

It reads (preferences, the event's existing notifications), calls ``planning.plan``, sends through
the channels, moves each notification through ``lifecycle``, and returns a Verdict that the
worker's settlement table turns into ack, delayed retry or dead-letter. No AMQP here.

What a repeated event does on each channel is the pure ``step_for`` table; what a failure does is
its class (``errors``: each carries its status) and the ``RetryPolicy``.

A send is announced to the store before the provider is called (``Lifecycle.intend``: ``sending``
with no provider reference), so a replay after a crash knows the outcome is unknown and asks the
provider (``Reconciler.find``) before sending again (docs/events.md, "Delivery guarantee").
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
from notifier.channels.base import is_idempotent, reconciler
from notifier.errors import (
    DeliveryFailure,
    InvalidEvent,
    OptedOut,
    PermanentFailure,
    TechnicalFailure,
)
from notifier.evidence import Evidence, EvidenceError, EvidenceStore
from notifier.lifecycle import Lifecycle
from notifier.messages import SmsMessage
from notifier.model import Channel, Council, Receipt, Status
from notifier.planning import LinkMaker, Plan, plan
from notifier.preferences.store import PreferenceStore
from notifier.retries import RetryPolicy
from notifier.store.notifications import NewNotification, Notification
from notifier.store.scheduled import ScheduledEvent, ScheduledStore
from notifier.templates.source import Catalogue

log = structlog.get_logger("notifier.processing")

NO_CHANNEL = "none"
# The outcome reason for a withdrawal that came after the message was handed over.
TOO_LATE = "too-late"


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
    RECONCILE = "reconcile"  # a send began and its outcome is unknown: ask the provider first


def step_for(existing: Status | None, replay: bool, outcome_unknown: bool = False) -> Step:
    """The step for a channel whose notification is in ``existing`` (None: there is none);
    ``outcome_unknown``: it is ``sending`` with no provider receipt (only the intent was
    recorded). A ``sending`` with a receipt (Twilio's SID, a letter's print batch) is done."""
    if existing is None:
        return Step.SEND
    if existing is Status.SUPPRESSED:
        return Step.SKIP
    if existing.is_failure:
        return Step.FALL_BACK
    if existing is Status.CREATED:
        return Step.RESUME if replay else Step.DUPLICATE
    if existing is Status.SENDING and outcome_unknown:
        return Step.RECONCILE if replay else Step.DUPLICATE
    return Step.DONE


def _step(row: Notification | None, replay: bool) -> Step:
    if row is None:
        return step_for(None, replay)
    # A "sending" whose attempts all failed before reaching the provider waits like "created".
    status = Status.CREATED if row.waiting else row.status
    return step_for(status, replay, row.outcome_unknown)


def _every_channel_failed(last: DeliveryFailure | None) -> Verdict:
    """No channel took the message: settled as failed when the last failure was the recipient's
    for good; dead-lettered, for replay once fixed, when it was ours or the provider's."""
    if last is not None and not isinstance(last, PermanentFailure):
        return Dead("delivery-failed", f"every channel failed; last: {last.code}")
    return Ack("failed")


def _years_after(moment: datetime, years: int) -> datetime:
    """The same day ``years`` later (28 February for a 29th in a year that has none)."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


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
        scheduled: ScheduledStore | None = None,
        evidence: EvidenceStore | None = None,
        evidence_years: int = 6,
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
        self.scheduled = scheduled
        self.evidence = evidence
        self.evidence_years = evidence_years
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
        if event.withdraw is not None:
            await self._withdraw(event, event.withdraw.event_types, event.withdraw.event_id)
            return Ack("withdrawn")
        withdrawn = self.catalogue.withdrawn_by(event.type)
        if withdrawn and event.subject:
            await self._withdraw(event, tuple(withdrawn), None)
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
        if event.send_after is not None and event.send_after > now:
            waiting = await self._schedule(event, decided, existing, delivery, now)
            if waiting is not None:
                return waiting
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
            step = _step(row, replay)
            if step in (Step.SKIP, Step.FALL_BACK):
                continue
            if row is not None and step in (Step.DONE, Step.DUPLICATE, Step.RECONCILE):
                settled = await self._in_hand(step, channel, row, decided, existing, attempt)
                if settled is not None:
                    return settled
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

    async def _in_hand(
        self,
        step: Step,
        channel: Channel,
        row: Notification,
        decided: Plan,
        existing: Mapping[str, Notification],
        attempt: int,
    ) -> Verdict | None:
        """A channel already holding the message: the verdict, or None to send after all (a
        send of unknown outcome that the provider says never arrived)."""
        if step is Step.RECONCILE:
            settled = await self._reconcile(channel, row, decided, attempt)
            if isinstance(settled, Ack):
                await self._close_pending(existing, (channel,), "sent-by-another-channel")
            return settled
        if step is Step.DONE:
            await self.lifecycle.announce(row)  # the last run may have died before it
        return Ack("duplicate")

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
        adapter = self.channels[channel]
        if not is_idempotent(adapter) and not await self.lifecycle.intend(row, source=str(channel)):
            # Withdrawn (or the customer erased) between the read and this claim: not sent. (The
            # letter spool needs no claim: a print batch takes only letters still ``created``.)
            return Ack("cancelled"), None
        started = time.perf_counter()
        try:
            receipt = await adapter.send(message)
        except DeliveryFailure as failure:
            metrics.SEND_SECONDS.labels(channel=str(channel)).observe(time.perf_counter() - started)
            delay = self.retries.delay(attempt) if failure.retryable else None
            if delay is not None and isinstance(failure, TechnicalFailure):
                delay = max(delay, failure.retry_after or 0.0)  # a daily limit waits for midnight
            if delay is not None:
                await self.lifecycle.note(
                    row,
                    source=str(channel),
                    reason=f"retry:{failure.code}",
                    attempt=True,
                    sent_nothing=not failure.outcome_unknown,
                )
                return Retry(delay, failure.code, str(channel)), failure
            await self.lifecycle.move(row, failure.status, source=str(channel), reason=failure.code)
            if isinstance(failure, OptedOut) and isinstance(message, SmsMessage):
                await self.preferences.opt_out_sms([message.to], opted_out=True, actor="twilio")
            return None, failure
        metrics.SEND_SECONDS.labels(channel=str(channel)).observe(time.perf_counter() - started)
        if decided.template.statutory and receipt.content is not None:
            await self._keep_evidence(row, receipt)
        await self.lifecycle.move(
            row,
            receipt.status,
            source=str(channel),
            provider_ref=receipt.provider_ref,
            fragments=receipt.fragments,
        )
        return Ack(str(receipt.status)), None

    async def _reconcile(
        self, channel: Channel, row: Notification, decided: Plan, attempt: int
    ) -> Verdict | None:
        """A replay of a send whose outcome is unknown: the provider's copy adopted (a verdict),
        or None to send again (the provider has none, or cannot be asked and a resend is
        harmless or counted). A provider that cannot be reached now means a retry later."""
        structlog.contextvars.bind_contextvars(notification_id=row.id, channel=str(channel))
        adapter = self.channels[channel]
        finder = reconciler(adapter)
        if finder is None:
            if not is_idempotent(adapter):
                # SMTP cannot be asked: the resend carries the same Message-ID (channels/mime.py).
                metrics.POSSIBLE_DUPLICATES.labels(channel=str(channel)).inc()
                await self.lifecycle.note(row, source=str(channel), reason="possible-duplicate")
            return None
        since = row.attempt_started_at or row.created_at
        try:
            found = await finder.find(decided.drafts[channel].addressed(row.id), since)
        except DeliveryFailure as failure:
            code = f"reconcile:{failure.code}"
            delay = self.retries.delay(attempt)
            if delay is None:  # never guess: an operator replays it once the provider answers
                return Dead("outcome-unknown", f"{channel}: {failure.code}")
            await self.lifecycle.note(row, source=str(channel), reason=code, attempt=True)
            return Retry(delay, code, str(channel))
        if found is None or (found.provider_ref and await self._claimed(found.provider_ref, row)):
            return None  # it never reached the provider: send it now
        await self.lifecycle.move(
            row,
            found.status,
            source=str(channel),
            reason=found.reason or "reconciled",
            provider_ref=found.provider_ref,
            fragments=found.fragments,
        )
        log.info("notification.reconciled", status=str(found.status))
        return Ack(str(found.status))

    async def _claimed(self, provider_ref: str, row: Notification) -> bool:
        """Whether another notification already owns the provider's message ``provider_ref``
        (an identical text to the same number): then it is not this one's copy."""
        owner = await self.notifications.by_provider_ref(provider_ref)
        return owner is not None and owner.id != row.id

    async def _suppress(
        self,
        event: events.CaseEvent,
        decided: Plan,
        existing: Mapping[str, Notification],
        replay: bool,
    ) -> Verdict:
        assert decided.suppression is not None
        reason = decided.suppression.reason
        steps = {_step(r, replay) for c, r in existing.items() if c != NO_CHANNEL}
        if steps & {Step.DONE, Step.SKIP, Step.DUPLICATE, Step.RECONCILE}:
            # Sent or closed before the preferences changed, or in hand; a send of unknown
            # outcome is not sent again now, and its provider's receipt still settles it.
            return Ack("duplicate")
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

    async def _keep_evidence(self, row: Notification, receipt: Receipt) -> None:
        """The statutory notice's exact bytes, kept write-once before its record. It has gone
        already, so a store that fails is logged and counted for the on-call, not retried."""
        if self.evidence is None or receipt.content is None:
            return
        now = self.clock()
        council = self.councils.get(row.council)
        years = (council.evidence_years if council else None) or self.evidence_years
        record = Evidence(
            notification_id=row.id,
            council=row.council,
            case_reference=row.case_reference,
            event_source=row.event_source,
            event_id=row.event_id,
            event_type=row.event_type,
            template=row.template,
            template_version=row.template_version,
            channel=row.channel,
            provider_ref=receipt.provider_ref,
            status=str(receipt.status),
            sent_at=now,
            keep_until=_years_after(now, years),
        )
        try:
            await self.evidence.keep(record, receipt.content)
        except (OSError, EvidenceError) as exc:
            metrics.EVIDENCE_FAILURES.inc()
            log.error("evidence.keep_failed", error=type(exc).__name__)

    async def _schedule(
        self,
        event: events.CaseEvent,
        decided: Plan,
        existing: Mapping[str, Notification],
        delivery: Delivery,
        now: datetime,
    ) -> Verdict | None:
        """Record the notification now, on the first usable channel, waiting for its send time;
        it is planned again (with the preferences as they are then) when that time comes. A wait
        the broker can hold goes through a delay queue; a longer one is kept in the database for
        the release job, and so does one shorter than the shortest delay queue (which would
        overshoot it). None when no channel is usable: the failures are recorded at once."""
        assert event.send_after is not None
        channel = next((c for c in decided.order if c in decided.drafts), None)
        if channel is None:
            return None
        row = existing.get(channel)
        if row is None:
            new = dataclasses.replace(
                self._new(event, decided, channel), waits_until=event.send_after
            )
            row = await self.lifecycle.create(new)
            if row is None:
                return Ack("duplicate")
        elif not row.waiting:
            return None  # withdrawn or handled already: the usual steps say what to do
        await self.lifecycle.note(row, source="policy", reason="scheduled")
        wait = (event.send_after - now).total_seconds()
        delays = self.retries.delays
        if self.scheduled is None or min(delays) <= wait <= max(delays):
            return Retry(wait, "scheduled", str(channel), counts=False)
        await self.scheduled.keep(
            ScheduledEvent(
                event.source,
                event.id,
                event.council,
                event.send_after,
                delivery.body,
                delivery.content_type,
            )
        )
        return Ack("scheduled")

    async def _withdraw(
        self, event: events.CaseEvent, templates: tuple[str, ...], event_id: str | None
    ) -> None:
        """The case moved on: cancel its notifications still waiting (for quiet hours or a
        retry) from ``templates`` (every template when empty), or of one event; for those already
        handed to a provider (or claimed into a print batch) say it is too late."""
        assert event.subject is not None  # the schema requires the case for a withdrawal
        candidates = [
            row
            for row in await self.notifications.for_case(event.council, event.subject)
            if (row.event_source, row.event_id) != (event.source, event.id)
            and (not templates or row.template in templates)
            and (event_id is None or row.event_id == event_id)
        ]
        letters = [r.id for r in candidates if r.channel == Channel.LETTER]
        batched = await self.notifications.in_print_batch(letters)
        reason = f"withdrawn-by:{event.id}"[:100]  # the reason column's width
        for row in candidates:
            if row.waiting and row.id not in batched:
                if await self.lifecycle.move(
                    row, Status.CANCELLED, source="withdrawal", reason=reason
                ):
                    continue
                # A worker began its send since the read (the store refused the cancel).
                row = await self.notifications.get(row.id) or row
            if row.status is not Status.CANCELLED and (
                row.waiting or _step(row, True) in (Step.DONE, Step.RECONCILE)
            ):
                await self.lifecycle.announce(row, reason=TOO_LATE)

    async def _close_pending(
        self, existing: Mapping[str, Notification], keep: Iterable[Channel], reason: str
    ) -> None:
        """Suppress notifications left waiting (nothing at a provider) on channels other than
        ``keep``."""
        kept = {str(c) for c in keep}
        for channel, row in existing.items():
            if row.waiting and channel not in kept:
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
