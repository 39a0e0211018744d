"""The one status change: the forward-only rule, the history row, the metric and the outcome."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.lifecycle import Lifecycle
from notifier.model import Status
from notifier.printhouse.spool import Spool, SpooledLetter
from notifier.store.notifications import NewNotification, NotificationStore
from tests.fakes.channels import RecordingSink
from tests.metrics import counted

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def new(channel: str = "sms", **extra: object) -> NewNotification:
    return NewNotification(
        event_source="/councils/sdc/test",
        event_id=f"event-{channel}-{len(extra)}",
        event_type="planning.application.received",
        council="sdc",
        channel=channel,
        **extra,  # type: ignore[arg-type]
    )


async def test_move_counts_records_and_publishes_once(engine: AsyncEngine) -> None:
    """An applied change is counted once, kept in the history and published with its reason."""
    sink = RecordingSink()
    lifecycle = Lifecycle(NotificationStore(engine), sink, clock=lambda: AT)
    row = await lifecycle.create(new())
    assert row is not None
    before = counted("sms", Status.DELIVERED)
    assert await lifecycle.move(row, Status.DELIVERED, source="twilio-callback")
    assert counted("sms", Status.DELIVERED) == before + 1
    [(key, body)] = sink.published
    assert key == "notification.delivered"
    assert json.loads(body)["data"]["notification_id"] == row.id
    history = await lifecycle.notifications.history(row.id)
    assert [(h.status, h.applied) for h in history] == [
        (Status.CREATED, True),
        (Status.DELIVERED, True),
    ]


async def test_late_receipt_is_kept_but_neither_counted_nor_published(engine: AsyncEngine) -> None:
    """A receipt after a terminal status stays in the history; no metric, no outcome."""
    sink = RecordingSink()
    lifecycle = Lifecycle(NotificationStore(engine), sink, clock=lambda: AT)
    row = await lifecycle.create(new())
    assert row is not None
    await lifecycle.move(row, Status.DELIVERED, source="twilio-callback")
    before = counted("sms", Status.SENDING)
    assert not await lifecycle.move(row, Status.SENDING, source="twilio-callback")
    assert counted("sms", Status.SENDING) == before
    assert [key for key, _ in sink.published] == ["notification.delivered"]
    history = await lifecycle.notifications.history(row.id)
    assert history[-1].status is Status.SENDING and history[-1].applied is False


async def test_created_straight_into_a_final_status_is_counted(engine: AsyncEngine) -> None:
    """A suppression (or an unusable detail) created in its final status is counted and
    published; a plain 'created' is neither."""
    sink = RecordingSink()
    lifecycle = Lifecycle(NotificationStore(engine), sink, clock=lambda: AT)
    before = counted("none", Status.SUPPRESSED)
    await lifecycle.create(new("email"))
    suppressed = await lifecycle.create(
        new("none", status=Status.SUPPRESSED, reason="do-not-contact")
    )
    assert suppressed is not None
    assert counted("none", Status.SUPPRESSED) == before + 1
    [(key, body)] = sink.published
    assert key == "notification.suppressed"
    assert json.loads(body)["data"]["reason"] == "do-not-contact"


async def test_move_id_returns_the_moved_row_or_none(engine: AsyncEngine) -> None:
    """By id (a print report): the row as it now stands when it moved, None when it did not."""
    sink = RecordingSink()
    lifecycle = Lifecycle(NotificationStore(engine), sink, clock=lambda: AT)
    row = await lifecycle.create(new("letter"))
    assert row is not None
    before = counted("letter", Status.POSTED)
    moved = await lifecycle.move_id(row.id, Status.POSTED, source="print-report")
    assert moved is not None and moved.status is Status.POSTED
    assert counted("letter", Status.POSTED) == before + 1
    assert await lifecycle.move_id(row.id, Status.POSTED, source="print-report") is None
    assert await lifecycle.move_id("no-such-id", Status.POSTED, source="print-report") is None


async def test_the_claim_and_a_cancel_exclude_each_other(engine: AsyncEngine) -> None:
    """Whichever comes first wins: a cancelled notification cannot be claimed for a send
    (``intend`` is False, no intent in the history), and a claimed one cannot be cancelled
    (the cancel is kept in the history as not applied). A resend after reconciling, already
    ``sending``, is still claimed."""
    lifecycle = Lifecycle(NotificationStore(engine), RecordingSink(), clock=lambda: AT)
    store = lifecycle.notifications
    first, second = await store.create(new("sms")), await store.create(new("email"))
    assert first is not None and second is not None

    assert await lifecycle.move(first, Status.CANCELLED, source="withdrawal", reason="w")
    assert not await lifecycle.intend(first, source="sms")
    assert [(h.status, h.applied) for h in await store.history(first.id)] == [
        (Status.CREATED, True),
        (Status.CANCELLED, True),
    ]

    assert await lifecycle.intend(second, source="email")
    assert not await lifecycle.move(second, Status.CANCELLED, source="withdrawal", reason="w")
    assert await lifecycle.intend(second, source="email")  # the resend keeps its claim
    after = await store.get(second.id)
    assert after is not None and after.status is Status.SENDING
    assert [(h.status, h.applied) for h in await store.history(second.id)][-2:] == [
        (Status.SENDING, True),
        (Status.CANCELLED, False),
    ]


async def test_a_letter_claimed_into_a_print_batch_cannot_be_cancelled(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A print batch that claims a waiting letter first wins over a cancel that read it as
    waiting: the cancel is refused (too late) and the letter stays ``created`` in its batch."""
    lifecycle = Lifecycle(NotificationStore(engine), RecordingSink(), clock=lambda: AT)
    row = await lifecycle.notifications.create(new("letter"))
    assert row is not None
    spool = Spool(engine, tmp_path)
    await spool.add(
        SpooledLetter(row.id, "sdc", "second", 1, hashlib.sha256(b"%PDF").hexdigest()), b"%PDF", AT
    )
    assert await spool.claim(AT) is not None
    assert not await lifecycle.move(row, Status.CANCELLED, source="withdrawal", reason="w")
    after = await lifecycle.notifications.get(row.id)
    assert after is not None and after.status is Status.CREATED
