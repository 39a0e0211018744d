"""Applying one message to a bounce address: find the notification by its signed return path,
change it through ``Lifecycle``, and continue its event on the next channel.

- hard: ``sent`` -> ``permanent-failure`` (reason ``hard-bounce:<status>``); the kept event goes
  back to the work queue, where ``processing.step_for`` falls back from the failed email to the
  next channel; after ``hard_limit`` hard bounces the stored customer's ``email_verified`` is
  cleared (audited, actor ``bounce``).
- soft: a ``soft-bounce:<status>:<digest>`` history entry (the digest names the bounce message,
  so the same bounce delivered twice counts once); at the ``soft_limit``-th different one, or
  once the bounce window has passed, ``temporary-failure`` and continued as for hard.
- delayed, other-failure: a history entry only.
- complaint: a ``complained`` history entry (the status stays); email is taken out of the stored
  customer's channel order (audited, actor ``complaint``).
- auto-reply, not-bounce: nothing.
- malformed, loop, unsigned, unknown-notification, purged, not-email: refused with that result.

Every message is counted in ``notifier_bounces_total`` and logged with its kind and result, never
an address. Applying the same bounce twice changes nothing the second time, but the event is
continued again (the worker's unique delivery key makes that a no-op if the first got through),
so a bounce whose first application died before its continuation is not lost.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta

import structlog

from notifier import metrics
from notifier.bounces.parse import MAX_BYTES, Kind, Parsed, parse
from notifier.bounces.verp import ReturnPaths, Token
from notifier.lifecycle import Lifecycle
from notifier.model import Channel, Status
from notifier.preferences.model import Preferences
from notifier.preferences.store import PreferenceStore
from notifier.store.notifications import Notification

log = structlog.get_logger("notifier.bounces")

# Puts a kept event back on the work queue as a replay (the worker's ``Broker.continue_event``).
ContinueEvent = Callable[[bytes], Awaitable[None]]
SOURCE = "bounce"
_REFUSED = frozenset({Kind.MALFORMED, Kind.LOOP})
_IGNORED = frozenset({Kind.AUTO_REPLY, Kind.NOT_BOUNCE})


@dataclasses.dataclass(frozen=True, slots=True)
class Applied:
    """What became of one message: its kind, the council it was signed for (or ``unknown``),
    the result (``applied``, ``noted``, ``ignored``, ``duplicate``, or why it was refused:
    ``malformed``, ``loop``, ``unsigned``, ``unknown-notification``, ``purged``, ``not-email``),
    and the notification it changed."""

    kind: Kind
    council: str
    result: str
    notification_id: str | None = None

    @property
    def refused(self) -> bool:
        return self.result not in ("applied", "noted", "ignored", "duplicate")


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """Hard bounces before the address is marked unverified; soft bounces before the
    notification fails; the bounce window (seconds after sending)."""

    hard: int = 1
    soft: int = 2
    window: float = 72 * 3600.0
    max_bytes: int = MAX_BYTES


def _digest(data: bytes) -> str:
    """A short name for one bounce message (12 hex digits of its SHA-256)."""
    return hashlib.sha256(data).hexdigest()[:12]


class Intake:
    """Applies bounces and complaints to the notifications they were signed for."""

    def __init__(
        self,
        *,
        return_paths: ReturnPaths,
        lifecycle: Lifecycle,
        preferences: PreferenceStore,
        continue_event: ContinueEvent | None,
        limits: Limits = Limits(),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.return_paths = return_paths
        self.lifecycle = lifecycle
        self.notifications = lifecycle.notifications
        self.preferences = preferences
        self.continue_event = continue_event
        self.limits = limits
        self.clock = clock

    def accepts(self, address: str) -> bool:
        """Whether mail to ``address`` may be taken: a return path this service signed."""
        return self.return_paths.verify(address) is not None

    async def apply(self, data: bytes, recipients: Iterable[str] = ()) -> Applied:
        """Apply one message; ``recipients``: its envelope recipients, when known (SMTP)."""
        parsed = parse(data, max_bytes=self.limits.max_bytes)
        applied = await self._apply(parsed, tuple(recipients), _digest(data))
        metrics.BOUNCES.labels(
            kind=str(applied.kind), council=applied.council, result=applied.result
        ).inc()
        log.info(
            "bounce.received",
            kind=str(applied.kind),
            council=applied.council,
            result=applied.result,
            detail=parsed.detail,
            status=parsed.status,
            notification_id=applied.notification_id,
        )
        return applied

    async def _apply(self, parsed: Parsed, recipients: tuple[str, ...], digest: str) -> Applied:
        if parsed.kind in _REFUSED:
            return Applied(parsed.kind, "unknown", str(parsed.kind))
        token = self._token((*recipients, *parsed.addresses))
        if token is None:
            return Applied(parsed.kind, "unknown", "unsigned")
        row = await self._signed_for(token)
        if isinstance(row, str):
            return Applied(parsed.kind, token.council, row, token.notification_id)
        if parsed.kind in _IGNORED:
            return Applied(parsed.kind, token.council, "ignored", token.notification_id)
        result = await self._change(row, parsed, digest)
        return Applied(parsed.kind, token.council, result, row.id)

    def _token(self, addresses: Iterable[str]) -> Token | None:
        for address in addresses:
            token = self.return_paths.verify(address)
            if token is not None:
                return token
        return None

    async def _signed_for(self, token: Token) -> Notification | str:
        """The email notification ``token`` names, or why the bounce is refused."""
        row = await self.notifications.get(token.notification_id)
        if row is None or row.council != token.council:
            return "unknown-notification"
        if row.channel != Channel.EMAIL:
            return "not-email"
        kept = await self.notifications.kept(row.id)
        if kept is None or kept.purged:
            return "purged"
        return row

    async def _change(self, row: Notification, parsed: Parsed, digest: str) -> str:
        status = parsed.status
        if parsed.kind is Kind.HARD:
            reason = f"hard-bounce:{status}" if status else "hard-bounce"
            return await self._fail(row, Status.PERMANENT_FAILURE, reason, hard=True)
        if parsed.kind is Kind.SOFT:
            reason = f"soft-bounce:{status}" if status else "soft-bounce"
            seen = await self._soft_bounces(row)
            if digest in seen and row.status is Status.SENT:
                return "duplicate"
            if len(seen | {digest}) >= self.limits.soft or self._past_window(row):
                return await self._fail(row, Status.TEMPORARY_FAILURE, reason, hard=False)
            await self.lifecycle.note(row, source=SOURCE, reason=f"{reason}:{digest}")
            return "noted"
        if parsed.kind is Kind.COMPLAINT:
            await self.lifecycle.note(row, source=SOURCE, reason="complained")
            await self._opt_out_email(row)
            return "noted"
        prefix = "bounce-delayed" if parsed.kind is Kind.DELAYED else "bounce-other"
        await self.lifecycle.note(row, source=SOURCE, reason=f"{prefix}:{status or 'none'}")
        return "noted"

    async def _fail(self, row: Notification, status: Status, reason: str, *, hard: bool) -> str:
        moved = await self.lifecycle.move(row, status, source=SOURCE, reason=reason)
        current = await self.notifications.get(row.id)
        if current is None or not current.status.is_failure:
            return "duplicate"  # already final otherwise (delivered): nothing to continue
        if moved and hard:
            await self._count_hard_bounce(row)
        kept = await self.notifications.kept(row.id)
        if kept is not None and kept.event is not None and self.continue_event is not None:
            await self.continue_event(kept.event.encode("utf-8"))
        elif moved:
            log.info("bounce.not_continued", notification_id=row.id, why="event-not-kept")
        return "applied" if moved else "duplicate"

    async def _soft_bounces(self, row: Notification) -> set[str]:
        """The digests of the soft bounces noted for ``row`` so far."""
        history = await self.notifications.history(row.id)
        return {
            (entry.reason or "").rpartition(":")[2]
            for entry in history
            if entry.source == SOURCE
            and not entry.applied
            and (entry.reason or "").startswith("soft-bounce")
        }

    def _past_window(self, row: Notification) -> bool:
        return self.clock() - row.created_at >= timedelta(seconds=self.limits.window)

    async def _count_hard_bounce(self, row: Notification) -> None:
        """After ``hard`` hard bounces of a stored customer's email, mark it unverified."""
        if row.customer_id is None:
            return
        recent = await self.notifications.for_customer(row.council, row.customer_id)
        bounced = sum(
            1
            for n in recent
            if n.channel == Channel.EMAIL and (n.reason or "").startswith("hard-bounce")
        )
        if bounced < self.limits.hard:
            return

        def unverify(p: Preferences) -> Preferences:
            return dataclasses.replace(p, email_verified=False)

        await self.preferences.update(row.council, row.customer_id, unverify, actor="bounce")

    async def _opt_out_email(self, row: Notification) -> None:
        """A complaint: no more email for this customer until they choose it again."""
        if row.customer_id is None:
            return

        def without_email(p: Preferences) -> Preferences:
            order = tuple(c for c in p.channel_order if c is not Channel.EMAIL)
            return dataclasses.replace(p, channel_order=order)

        await self.preferences.update(
            row.council, row.customer_id, without_email, actor="complaint"
        )
