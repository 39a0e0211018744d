"""``notifier notifications show`` and ``find`` against records the processing shell made: a
retried notification, one that fell back to another channel, and a suppressed one."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.councils import load_councils
from notifier.errors import PermanentFailure, TemporaryFailure
from notifier.lifecycle import Lifecycle
from notifier.messages import Message
from notifier.model import Channel, Receipt, Status
from notifier.preferences.model import Preferences
from notifier.preferences.store import PreferenceStore
from notifier.processing import Ack, Delivery, Processor, Retry
from notifier.retries import RetryPolicy
from notifier.store import migrate
from notifier.store.database import create_engine
from notifier.store.notifications import Notification, NotificationStore
from notifier.store.tables import notifications
from notifier.templates.source import Catalogue
from tests.events import body, make_event
from tests.fakes.channels import FakeChannel, Handler, RecordingSink, accept

EMAIL = "alex@example.org"


class Records:
    """The processing shell with scripted channels over one SQLite file the CLI then reads."""

    def __init__(self, engine: AsyncEngine, url: str) -> None:
        self.url = url
        self.engine = engine
        self.notifications = NotificationStore(engine)
        self.preferences = PreferenceStore(engine)
        self.channels = {c: FakeChannel(str(c), accept) for c in Channel}
        self.processor = Processor(
            catalogue=Catalogue.load(),
            councils=load_councils(),
            lifecycle=Lifecycle(self.notifications, RecordingSink()),
            preferences=self.preferences,
            channels=self.channels,
            retries=RetryPolicy((30.0, 300.0), max_attempts=3),
            allow_fiction_range=True,
        )

    def script(self, channel: Channel, handler: Handler) -> None:
        self.channels[channel].handler = handler

    async def rows(self, event: dict[str, object]) -> dict[str, Notification]:
        found = await self.notifications.for_event(str(event["source"]), str(event["id"]))
        return {r.channel: r for r in found}

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "notifier", "notifications", *args],
            capture_output=True,
            text=True,
            env={**os.environ, "NOTIFIER_DATABASE_URL": self.url, **env},
            timeout=60,
            check=False,
        )


@pytest.fixture
async def records(sqlite_url: str) -> AsyncIterator[Records]:
    """A migrated SQLite file and a processor writing into it."""
    engine = create_engine(sqlite_url)
    await migrate.upgrade(engine)
    try:
        yield Records(engine, sqlite_url)
    finally:
        await engine.dispose()


async def retried(records: Records) -> dict[str, object]:
    """An email refused for now (SMTP 451) on the first attempt and accepted on the second."""
    calls = 0

    async def busy_then_accept(message: Message) -> Receipt:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TemporaryFailure("smtp-451")
        return await accept(message)

    records.script(Channel.EMAIL, busy_then_accept)
    event = make_event(subject="24/00001/FUL")
    assert await records.processor.handle(Delivery(body(event))) == Retry(30.0, "smtp-451", "email")
    assert await records.processor.handle(Delivery(body(event), attempt=1)) == Ack("sent")
    return event


async def fell_back(records: Records) -> dict[str, object]:
    """An email address refused for good (SMTP 550), so the message went by text."""

    async def refuse(message: Message) -> Receipt:
        raise PermanentFailure("smtp-550")

    records.script(Channel.EMAIL, refuse)
    event = make_event(subject="24/00002/FUL")
    assert await records.processor.handle(Delivery(body(event))) == Ack("sent")
    records.script(Channel.EMAIL, accept)
    return event


async def suppressed(records: Records) -> dict[str, object]:
    """A stored customer with no contact details: suppressed, on no channel."""
    await records.preferences.put(Preferences(council="wdc", customer_id="WDC-000777"), actor="t")
    event = make_event(
        council="wdc",
        subject="W/24/0003",
        recipient={"customer_id": "WDC-000777", "email": EMAIL},
    )
    assert await records.processor.handle(Delivery(body(event))) == Ack("suppressed")
    return event


async def test_show_a_retried_notification_has_the_retry_in_its_history(
    records: Records,
) -> None:
    """The retried email shows as sent with one retry, its template and version, and a history
    that holds the SMTP 451 before the send; no contact details."""
    event = await retried(records)
    row = (await records.rows(event))["email"]
    result = records.cli("show", row.id)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"notification  {row.id}" in out
    assert f"template      {row.template} v{row.template_version}" in out
    assert "status        sent" in out
    assert "retries       1" in out
    history = out.split("history\n", 1)[1].splitlines()[1:]
    # created; the intent before each send (sending); the 451 noted; the intent again; sent.
    assert [line.split()[2] for line in history] == [
        "created",
        "sending",
        "sending",
        "sending",
        "sent",
    ]
    assert "smtp-451" in history[2]
    assert EMAIL not in out
    assert "other channels" not in out


async def test_show_a_fallback_names_the_failure_and_the_channel_that_took_over(
    records: Records,
) -> None:
    """The refused email shows permanent-failure with reason smtp-550 and lists the sent text
    as the event's other channel; find --event-id lists both in the order they were made."""
    event = await fell_back(records)
    rows = await records.rows(event)
    result = records.cli("show", rows["email"].id)
    assert result.returncode == 0, result.stderr
    assert "status        permanent-failure" in result.stdout
    assert "reason        smtp-550" in result.stdout
    others = result.stdout.split("other channels for this event\n", 1)[1].splitlines()
    assert others[1].split()[0] == rows["sms"].id
    assert "sent" in others[1].split()
    found = records.cli("find", "--event-id", str(event["id"]))
    assert found.returncode == 0, found.stderr
    lines = found.stdout.splitlines()
    assert lines[0].split()[:3] == ["id", "created", "(UTC)"]
    assert [line.split()[0] for line in lines[1:]] == [rows["email"].id, rows["sms"].id]
    assert found.stderr.strip().endswith("2 notification(s)")


async def test_find_by_customer_and_by_case_shows_the_suppression(records: Records) -> None:
    """The suppressed notification is found by customer and by case with its council, with
    channel none and reason no-usable-channel; the same case under the other council is not."""
    event = await suppressed(records)
    [row] = (await records.rows(event)).values()
    assert row.status is Status.SUPPRESSED
    by_customer = records.cli("find", "--customer", "WDC-000777")
    by_case = records.cli("find", "--case", "W/24/0003", "--council", "wdc")
    for result in (by_customer, by_case):
        assert result.returncode == 0, result.stderr
        [line] = result.stdout.splitlines()[1:]
        assert line.split()[0] == row.id
        assert line.split()[-3:] == ["none", "suppressed", "no-usable-channel"]
    other = records.cli("find", "--case", "W/24/0003", "--council", "sdc")
    assert (other.returncode, other.stdout) == (0, "")
    assert other.stderr.strip() == "0 notification(s)"


async def test_contact_only_on_request_and_only_within_retention(records: Records) -> None:
    """--with-contact shows the address while the record is within the retention period, and
    says it is not kept once the record is older than that."""
    event = await retried(records)
    row = (await records.rows(event))["email"]
    assert EMAIL in records.cli("show", row.id, "--with-contact").stdout
    old = datetime.now(UTC) - timedelta(days=8)
    async with records.engine.begin() as conn:
        await conn.execute(
            update(notifications).where(notifications.c.id == row.id).values(created_at=old)
        )
    result = records.cli("show", row.id, "--with-contact", NOTIFIER_RETENTION_DAYS="7")
    assert result.returncode == 0, result.stderr
    assert EMAIL not in result.stdout
    assert "(not kept: past the retention period or purged)" in result.stdout


async def test_unknown_id_and_unknown_council_are_clear_errors(records: Records) -> None:
    """An id with no notification exits 1 saying so; an unknown council exits 2 naming the
    known ones; find with nothing to search by is a usage error."""
    missing = records.cli("show", "00000000-0000-0000-0000-000000000000")
    assert missing.returncode == 1
    assert "no notification with id 00000000-0000-0000-0000-000000000000" in missing.stderr
    council = records.cli("find", "--case", "X", "--council", "xyz")
    assert council.returncode == 2
    assert "unknown council 'xyz'; known: sdc, wdc" in council.stderr
    nothing = records.cli("find")
    assert nothing.returncode == 2
    assert "give --event-id" in nothing.stderr
    case_alone = records.cli("find", "--case", "X")
    assert case_alone.returncode == 2
    assert "--case needs --council" in case_alone.stderr
