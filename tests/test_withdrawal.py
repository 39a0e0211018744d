"""Withdrawal: a notification still waiting is cancelled when its case moves on (an event whose
type its template names, or the explicit control event); one already handed over is too late."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.errors import InvalidEvent, TemporaryFailure
from notifier.events import WITHDRAW_TYPE, parse
from notifier.messages import Message
from notifier.model import Channel, Receipt, Status, may_move
from notifier.processing import Ack, Delivery, Retry
from notifier.store.notifications import Notification
from tests.events import body, make_event
from tests.test_processing import Rig

CASE = "RP-2027-118406"
REMINDER = {
    "repair": "the leaking pipe under your kitchen sink",
    "appointment_date": "2027-09-22",
    "arrive_from": "2027-09-22T08:00:00",
    "arrive_by": "2027-09-22T12:00:00",
}


def reminder() -> dict[str, Any]:
    return make_event(
        type="housing.repair-appointment.reminder", subject=CASE, personalisation=REMINDER
    )


def cancelled() -> dict[str, Any]:
    return make_event(
        type="housing.repair-appointment.cancelled",
        subject=CASE,
        personalisation={"repair": REMINDER["repair"], "appointment_date": "2027-09-22"},
    )


def withdraw(**what: Any) -> dict[str, Any]:
    event = make_event(type=WITHDRAW_TYPE, subject=CASE)
    del event["data"]["recipient"], event["data"]["personalisation"]
    if what:
        event["data"]["withdraw"] = what
    return event


async def waiting_reminder(rig: Rig) -> dict[str, Any]:
    """A reminder whose email is waiting for a retry (the relay said 451 once)."""
    calls = 0

    async def busy_once(message: Message) -> Receipt:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TemporaryFailure("smtp-451")
        return Receipt(Status.SENT, provider_ref="fake")

    rig.channels[Channel.EMAIL].handler = busy_once
    event = reminder()
    assert isinstance(await rig.processor.handle(Delivery(body(event))), Retry)
    return event


def statuses(rows: list[Any]) -> dict[str, Status]:
    return {r.channel: r.status for r in rows}


async def test_cancelled_appointment_withdraws_the_waiting_reminder(engine: AsyncEngine) -> None:
    """The cancellation event cancels the reminder waiting for a retry (reason names the
    withdrawing event, outcome published); when the reminder comes back, nothing is sent."""
    rig = Rig(engine)
    event = await waiting_reminder(rig)
    cancel = cancelled()
    assert await rig.processor.handle(Delivery(body(cancel))) == Ack("sent")
    [row] = await rig.notifications.for_event(event["source"], event["id"])
    assert (row.status, row.reason) == (Status.CANCELLED, f"withdrawn-by:{cancel['id']}")
    assert ("notification.cancelled", row.id) in [
        (o["type"], o["data"]["notification_id"])  # type: ignore[index]
        for o in rig.outcomes()
    ]
    sent_before = len(rig.sent("email"))
    assert await rig.processor.handle(Delivery(body(event), attempt=1)) == Ack("duplicate")
    assert len(rig.sent("email")) == sent_before  # the cancellation's own email only


async def test_control_event_withdraws_by_event_type(engine: AsyncEngine) -> None:
    """notifier.notifications.withdraw with event_types cancels the matching waiting reminder
    and is acked without a message of its own."""
    rig = Rig(engine)
    event = await waiting_reminder(rig)
    sent_before = len(rig.sent("email"))
    control = withdraw(event_types=["housing.repair-appointment.reminder"])
    assert await rig.processor.handle(Delivery(body(control))) == Ack("withdrawn")
    assert statuses(await rig.notifications.for_event(event["source"], event["id"])) == {
        "email": Status.CANCELLED
    }
    assert len(rig.sent("email")) == sent_before


async def test_control_event_for_another_event_type_or_id_changes_nothing(
    engine: AsyncEngine,
) -> None:
    """A withdrawal naming another event type, or another event id, leaves the reminder waiting."""
    rig = Rig(engine)
    event = await waiting_reminder(rig)
    for control in (withdraw(event_types=["planning.decision.issued"]), withdraw(event_id="x")):
        assert await rig.processor.handle(Delivery(body(control))) == Ack("withdrawn")
    [row] = await rig.notifications.for_event(event["source"], event["id"])
    assert row.waiting and row.status is not Status.CANCELLED


async def test_withdrawal_of_another_councils_case_changes_nothing(engine: AsyncEngine) -> None:
    """The same case reference at another council is another case."""
    rig = Rig(engine)
    event = await waiting_reminder(rig)
    control = withdraw()
    control["data"]["council"] = "wdc"
    await rig.processor.handle(Delivery(body(control)))
    [row] = await rig.notifications.for_event(event["source"], event["id"])
    assert row.waiting and row.status is not Status.CANCELLED


async def test_withdrawal_after_the_send_is_too_late(engine: AsyncEngine) -> None:
    """A reminder already handed to the provider stays sent; the outcome says too-late."""
    rig = Rig(engine)
    event = reminder()
    assert await rig.processor.handle(Delivery(body(event))) == Ack("sent")
    assert await rig.processor.handle(Delivery(body(withdraw()))) == Ack("withdrawn")
    [row] = await rig.notifications.for_event(event["source"], event["id"])
    assert row.status is Status.SENT
    last = rig.outcomes()[-1]
    assert (last["type"], last["data"]["reason"]) == (  # type: ignore[index]
        "notification.sent",
        "too-late",
    )


def test_control_event_needs_its_case() -> None:
    """A withdrawal without a subject (the case reference) is an invalid event."""
    control = withdraw()
    del control["subject"]
    with pytest.raises(InvalidEvent, match="schema"):
        parse(json.dumps(control).encode())


def test_withdraw_field_belongs_to_the_control_event_only() -> None:
    """An ordinary case event carrying ``withdraw`` is invalid."""
    event = make_event()
    event["data"]["withdraw"] = {"event_id": "x"}
    with pytest.raises(InvalidEvent, match="schema"):
        parse(json.dumps(event).encode())


@pytest.mark.parametrize(
    ("current", "allowed"),
    [
        (Status.CREATED, True),
        (Status.SENDING, True),  # only when no attempt reached a provider: the caller checks
        (Status.SENT, False),
        (Status.DELIVERED, False),
        (Status.SUPPRESSED, False),
        (Status.CANCELLED, False),
    ],
)
def test_only_a_waiting_notification_can_be_cancelled(current: Status, allowed: bool) -> None:
    """cancelled is reached only from a status that may still be waiting, and is final."""
    assert may_move(current, Status.CANCELLED) is allowed
    assert may_move(Status.CANCELLED, Status.SENT) is False


async def test_withdrawal_between_the_read_and_the_claim_stops_the_send(
    engine: AsyncEngine,
) -> None:
    """A cancellation that lands after the worker read the waiting reminder but before it
    claimed it for the send (the intent) wins: the claim fails, nothing reaches the provider."""
    rig = Rig(engine)
    event = await waiting_reminder(rig)
    cancel = cancelled()
    claim = rig.notifications.intend

    async def cancelled_first(notification_id: str, *, source: str) -> bool:
        if notification_id in reminders:  # the cancellation runs here, between read and claim
            assert await rig.processor.handle(Delivery(body(cancel))) == Ack("sent")
        return await claim(notification_id, source=source)

    [row] = await rig.notifications.for_event(event["source"], event["id"])
    reminders = {row.id}
    rig.notifications.intend = cancelled_first  # type: ignore[method-assign]
    rig.channels[Channel.EMAIL].sent.clear()
    verdict = await rig.processor.handle(Delivery(body(event), attempt=1))
    assert verdict == Ack("cancelled")
    # Only the cancellation's own email went out; nothing for the reminder.
    assert row.id not in {m.notification_id for m in rig.sent("email")}
    assert len(rig.sent("email")) == 1
    [after] = await rig.notifications.for_event(event["source"], event["id"])
    assert (after.status, after.reason) == (Status.CANCELLED, f"withdrawn-by:{cancel['id']}")
    history = [(h.status, h.reason, h.applied) for h in await rig.notifications.history(row.id)]
    assert history[-1] == (Status.CANCELLED, f"withdrawn-by:{cancel['id']}", True)
    assert history.count((Status.SENDING, "intent", True)) == 1  # the first attempt's only


async def test_withdrawal_that_read_before_the_claim_is_too_late(engine: AsyncEngine) -> None:
    """A withdrawal that read the reminder as waiting, then lost the row to the worker's claim
    before its cancel was recorded: the store refuses the cancel, the reminder is sent once and
    recorded sent, and the withdrawal's outcome says too-late."""
    rig = Rig(engine)
    event = await waiting_reminder(rig)
    [row] = await rig.notifications.for_event(event["source"], event["id"])
    read = rig.notifications.for_case

    async def claimed_meanwhile(
        council: str, case_reference: str, *, limit: int | None = None, offset: int = 0
    ) -> Sequence[Notification]:
        rows = await read(council, case_reference, limit=limit, offset=offset)
        assert await rig.notifications.intend(row.id, source="email")  # the worker's claim
        return rows

    rig.notifications.for_case = claimed_meanwhile  # type: ignore[method-assign]
    rig.sink.published.clear()
    cancel = cancelled()
    assert await rig.processor.handle(Delivery(body(cancel))) == Ack("sent")
    [still] = await rig.notifications.for_event(event["source"], event["id"])
    assert still.status is Status.SENDING and still.attempt_started_at is not None
    reminder_outcomes = [o for o in rig.outcomes() if o["data"]["notification_id"] == row.id]  # type: ignore[index]
    assert [(o["type"], o["data"]["reason"]) for o in reminder_outcomes] == [  # type: ignore[index]
        ("notification.sending", "too-late")
    ]
    history = await rig.notifications.history(row.id)
    assert (history[-1].status, history[-1].applied) == (Status.CANCELLED, False)
