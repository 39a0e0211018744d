"""The customer store on SQLite and PostgreSQL: round trips, the audit trail, erasure."""

from __future__ import annotations

import dataclasses
from datetime import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.model import Channel, Status
from notifier.preferences.model import Preferences, replaced
from notifier.preferences.store import PreferenceStore
from notifier.store.notifications import NewNotification, NotificationStore
from notifier.store.tables import customer_audit, notifications

ALEX = Preferences(
    council="sdc",
    customer_id="SDC-1",
    name="Alex Smith",
    email="alex@example.org",
    email_verified=True,
    mobile="+447700900123",
    mobile_verified=False,
    address=("Flat 2", "10 High Street", "Stratford-upon-Avon", "CV37 6AA"),
    address_verified=True,
    channel_order=(Channel.SMS, Channel.LETTER),
    topic_opt_outs=frozenset({"waste", "planning:sms"}),
    quiet_hours=(time(22), time(7)),
    accessible_format="large-print",
    language="cy",
    stored=True,
)


async def test_every_field_round_trips(engine: AsyncEngine) -> None:
    """What is put is what is got, verified flags and all."""
    store = PreferenceStore(engine)
    assert await store.put(ALEX, actor="test") is True
    assert await store.get("sdc", "SDC-1") == ALEX
    assert await store.put(ALEX, actor="test") is False


async def test_audit_names_who_when_and_which_fields_never_values(engine: AsyncEngine) -> None:
    """Each change is audited with its actor and field names; no value is stored with it."""
    store = PreferenceStore(engine)
    await store.put(ALEX, actor="api-key:1")
    await store.put(ALEX, actor="api-key:1")  # unchanged: no entry
    await store.put(dataclasses.replace(ALEX, email="new@example.org"), actor="api-key:1")
    await store.update(
        "sdc", "SDC-1", lambda p: dataclasses.replace(p, deceased=True), actor="resident"
    )
    trail = await store.audit_trail("sdc", "SDC-1")
    assert [(e.actor, e.action) for e in trail] == [
        ("api-key:1", "create"),
        ("api-key:1", "update"),
        ("resident", "update"),
    ]
    assert trail[1].fields == ("email",) and trail[2].fields == ("deceased",)
    assert all(e.at.tzinfo is not None for e in trail)
    async with engine.connect() as conn:
        raw = str((await conn.execute(select(customer_audit))).all())
    for value in ("alex@example.org", "new@example.org", "+447700900123", "Alex"):
        assert value not in raw


async def test_erase_removes_the_customer_and_blanks_their_notifications(
    engine: AsyncEngine,
) -> None:
    """Erasure deletes contact details and preferences, blanks the recipient kept with each of
    their notifications, and keeps the notifications and their history."""
    store, records = PreferenceStore(engine), NotificationStore(engine)
    await store.put(ALEX, actor="test")
    row = await records.create(
        NewNotification(
            event_source="/councils/sdc/waste",
            event_id="e1",
            event_type="waste.x.y",
            council="sdc",
            channel="sms",
            customer_id="SDC-1",
            recipient="+447700900123",
        )
    )
    assert row is not None
    await records.record(row.id, Status.SENT, source="sms")
    assert await store.erase("sdc", "SDC-1", actor="api-key:1") is True
    assert await store.get("sdc", "SDC-1") is None
    async with engine.connect() as conn:
        kept = (await conn.execute(select(notifications))).one()
    assert kept.recipient is None and kept.purged_at is not None and kept.status == "sent"
    assert [h.status for h in await records.history(row.id)] == [Status.CREATED, Status.SENT]
    assert (await store.audit_trail("sdc", "SDC-1"))[-1].action == "erase"
    assert await store.erase("sdc", "SDC-1", actor="api-key:1") is False


async def test_put_many_creates_and_replaces_in_batches(engine: AsyncEngine) -> None:
    """A bulk write over several batches counts created and replaced customers."""
    store = PreferenceStore(engine)
    people = [dataclasses.replace(ALEX, customer_id=f"SDC-{n}") for n in range(1200)]
    assert await store.put_many(people, actor="import") == (1200, 0)
    changed = [dataclasses.replace(p, name="Sam Jones") for p in people[:700]]
    assert await store.put_many(changed, actor="import") == (0, 700)
    assert (await store.get("sdc", "SDC-5")).name == "Sam Jones"  # type: ignore[union-attr]
    assert (await store.get("sdc", "SDC-900")).name == "Alex Smith"  # type: ignore[union-attr]


async def test_stop_reply_matches_the_stored_e164_number(engine: AsyncEngine) -> None:
    """opt_out_sms finds the customer by the E.164 number stored, and audits it."""
    store = PreferenceStore(engine)
    await store.put(ALEX, actor="test")
    assert await store.opt_out_sms(["+447700900123"], opted_out=True, actor="twilio") == 1
    assert (await store.get("sdc", "SDC-1")).sms_opted_out is True  # type: ignore[union-attr]
    assert (await store.audit_trail("sdc", "SDC-1"))[-1].actor == "twilio"


def test_replacement_keeps_the_residents_choices_unless_given() -> None:
    """A council PUT replaces contact details but keeps the resident's own choices it leaves
    out; a new mobile number clears a STOP that belonged to the old one."""
    stopped = dataclasses.replace(ALEX, sms_opted_out=True)
    same = replaced("sdc", "SDC-1", {"mobile": "+447700900123"}, stopped)
    assert same.channel_order == ALEX.channel_order and same.topic_opt_outs == ALEX.topic_opt_outs
    assert same.sms_opted_out and same.large_print and same.email is None
    new_number = replaced("sdc", "SDC-1", {"mobile": "+447700900456"}, stopped)
    assert new_number.sms_opted_out is False
    given = replaced("sdc", "SDC-1", {"channel_order": (Channel.EMAIL,)}, stopped)
    assert given.channel_order == (Channel.EMAIL,)
