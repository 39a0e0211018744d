"""Applying bounces to notifications on the real store (SQLite and PostgreSQL): each kind, and
each kind of bad input, changes exactly what it should."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.bounces.intake import Limits
from notifier.bounces.parse import Kind
from notifier.metrics import REGISTRY
from notifier.model import Channel, Status
from notifier.store.tables import notifications
from tests.bounces import samples
from tests.bounces.rig import make_rig


def sample(name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(
        s.value
        for metric in REGISTRY.collect()
        for s in metric.samples
        if s.name == name and labels.items() <= s.labels.items()
    )


async def test_hard_bounce_fails_the_email_and_continues_the_event(engine: AsyncEngine) -> None:
    """A 5.1.1 DSN moves sent -> permanent-failure with its reason, publishes that outcome, puts
    the kept event back for the next channel, and marks the stored address unverified (audited)."""
    rig = make_rig(engine)
    await rig.store_customer()
    row = await rig.sent_email()
    applied = await rig.intake.apply(samples.rfc3464(rig.return_path(row)))
    assert (applied.kind, applied.result, applied.notification_id) == (Kind.HARD, "applied", row.id)
    now = await rig.notifications.get(row.id)
    assert now is not None and (now.status, now.reason) == (
        Status.PERMANENT_FAILURE,
        "hard-bounce:5.1.1",
    )
    history = await rig.notifications.history(row.id)
    assert [h.status for h in history] == [Status.CREATED, Status.SENT, Status.PERMANENT_FAILURE]
    assert [key for key, _ in rig.sink.published][-1] == "notification.permanent-failure"
    [kept] = rig.continued
    assert json.loads(kept)["marker"] == "kept"
    stored = await rig.preferences.get("sdc", "SDC-B1")
    assert stored is not None and not stored.email_verified
    last = (await rig.preferences.audit_trail("sdc", "SDC-B1"))[-1]
    assert (last.actor, last.fields) == ("bounce", ("email_verified",))


async def test_same_hard_bounce_twice_changes_nothing_but_continues_again(
    engine: AsyncEngine,
) -> None:
    """A bounce delivered twice (the first answer was lost) is a duplicate, and the event is
    continued again, so a continuation lost with the first answer is not lost for good."""
    rig = make_rig(engine)
    row = await rig.sent_email(customer_id=None)
    raw = samples.exchange(rig.return_path(row))
    await rig.intake.apply(raw)
    published = len(rig.sink.published)
    again = await rig.intake.apply(raw)
    assert again.result == "duplicate"
    assert len(rig.sink.published) == published
    assert len(rig.continued) == 2


async def test_soft_bounce_is_noted_then_fails_at_the_limit(engine: AsyncEngine) -> None:
    """A mailbox-full bounce is a history entry (the same message again is a duplicate); the
    second different one (soft_limit 2) makes it a temporary-failure and continues the event."""
    rig = make_rig(engine, limits=Limits(soft=2))
    row = await rig.sent_email()
    first = await rig.intake.apply(samples.gmail(rig.return_path(row)))
    assert first.result == "noted"
    assert (await rig.notifications.get(row.id)).status is Status.SENT  # type: ignore[union-attr]
    assert rig.continued == []
    again = await rig.intake.apply(samples.gmail(rig.return_path(row)))
    assert again.result == "duplicate"  # the same bounce delivered twice counts once
    second = await rig.intake.apply(samples.rfc3464(rig.return_path(row), status="5.2.2"))
    assert second.result == "applied"
    now = await rig.notifications.get(row.id)
    assert now is not None and (now.status, now.reason) == (
        Status.TEMPORARY_FAILURE,
        "soft-bounce:5.2.2",
    )
    assert len(rig.continued) == 1


async def test_soft_bounce_after_the_window_is_a_failure_at_once(engine: AsyncEngine) -> None:
    """Past the bounce window one soft bounce is enough."""
    later = datetime.now(UTC) + timedelta(hours=73)
    rig = make_rig(engine, limits=Limits(soft=5), now=later)
    row = await rig.sent_email()
    applied = await rig.intake.apply(samples.gmail(rig.return_path(row)))
    assert applied.result == "applied"
    assert (await rig.notifications.get(row.id)).status is Status.TEMPORARY_FAILURE  # type: ignore[union-attr]


async def test_delay_and_policy_refusal_are_history_only(engine: AsyncEngine) -> None:
    """Action: delayed and a 5.7.1 refusal add history entries and change no status."""
    rig = make_rig(engine)
    row = await rig.sent_email()
    await rig.intake.apply(samples.delayed(rig.return_path(row)))
    await rig.intake.apply(samples.exchange(rig.return_path(row), status="5.7.1"))
    history = await rig.notifications.history(row.id)
    assert [(h.reason, h.applied) for h in history[2:]] == [
        ("bounce-delayed:4.4.7", False),
        ("bounce-other:5.7.1", False),
    ]
    assert (await rig.notifications.get(row.id)).status is Status.SENT  # type: ignore[union-attr]
    assert rig.continued == []


async def test_complaint_opts_the_customer_out_of_email(engine: AsyncEngine) -> None:
    """An ARF complaint notes 'complained' and takes email out of the customer's channel order
    (audited, actor complaint); the notification stays sent."""
    rig = make_rig(engine)
    await rig.store_customer()
    row = await rig.sent_email()
    applied = await rig.intake.apply(
        samples.complaint("fbl@stratford.gov.uk", rig.return_path(row))
    )
    assert (applied.kind, applied.result) == (Kind.COMPLAINT, "noted")
    stored = await rig.preferences.get("sdc", "SDC-B1")
    assert stored is not None and stored.channel_order == (Channel.SMS,)
    last = (await rig.preferences.audit_trail("sdc", "SDC-B1"))[-1]
    assert (last.actor, last.fields) == ("complaint", ("channel_order",))
    history = await rig.notifications.history(row.id)
    assert history[-1].reason == "complained"
    assert (await rig.notifications.get(row.id)).status is Status.SENT  # type: ignore[union-attr]


async def test_out_of_office_is_ignored(engine: AsyncEngine) -> None:
    """An automatic reply changes nothing."""
    rig = make_rig(engine)
    row = await rig.sent_email()
    applied = await rig.intake.apply(samples.out_of_office(rig.return_path(row)))
    assert (applied.kind, applied.result) == (Kind.AUTO_REPLY, "ignored")
    assert len(await rig.notifications.history(row.id)) == 2


async def test_bad_input_is_refused_and_changes_nothing(engine: AsyncEngine) -> None:
    """A forged token, another council's token, a purged notification, a text message's id, a
    malformed message and a loop are each refused with their result; no status moves."""
    rig = make_rig(engine)
    row = await rig.sent_email()
    address = rig.return_path(row)
    local, _, domain = address.rpartition("@")
    forged = local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain
    wdc_token = rig.paths.address("wdc", row.id).rpartition("@")[0].partition("+")[2]
    elsewhere = f"bounces+{wdc_token}@bounces.stratford.gov.uk"
    signed_by_wdc = rig.paths.address("wdc", row.id)  # wdc's own address, for an sdc row
    sms = await rig.sent_email(channel="sms")
    purged = await rig.sent_email()
    async with engine.begin() as conn:
        await conn.execute(
            update(notifications)
            .where(notifications.c.id == purged.id)
            .values(purged_at=datetime.now(UTC), recipient=None, kept_event=None)
        )
    cases = [
        (samples.rfc3464(forged), "unsigned"),
        (samples.rfc3464(elsewhere), "unsigned"),
        (samples.rfc3464(signed_by_wdc), "unknown-notification"),
        (samples.rfc3464(rig.return_path(sms)), "not-email"),
        (samples.rfc3464(rig.return_path(purged)), "purged"),
        (b"\x00 not mail", "malformed"),
        (samples.bounce_of_a_bounce(address), "loop"),
    ]
    for raw, result in cases:
        before = sample("notifier_bounces_total", result=result)
        applied = await rig.intake.apply(raw)
        assert applied.result == result and applied.refused
        assert sample("notifier_bounces_total", result=result) == before + 1
    for r in (row, sms, purged):
        assert (await rig.notifications.get(r.id)).status is Status.SENT  # type: ignore[union-attr]
    assert rig.continued == []


async def test_no_address_reaches_the_log(engine: AsyncEngine) -> None:
    """The resident's address in the bounce appears in no log line."""
    rig = make_rig(engine)
    row = await rig.sent_email()
    with structlog.testing.capture_logs() as logs:
        await rig.intake.apply(samples.postfix(rig.return_path(row)))
        await rig.intake.apply(samples.rfc3464("nobody@example.org"))
    assert logs and "rosalind" not in repr(logs) and "nobody@" not in repr(logs)


async def test_envelope_recipient_is_read_before_the_headers(engine: AsyncEngine) -> None:
    """The SMTP envelope's recipient identifies the notification even when the headers name
    another address."""
    rig = make_rig(engine)
    row = await rig.sent_email(customer_id=None)
    raw = samples.rfc3464("postmaster@stratford.gov.uk")
    applied = await rig.intake.apply(raw, [rig.return_path(row)])
    assert (applied.result, applied.notification_id) == ("applied", row.id)
