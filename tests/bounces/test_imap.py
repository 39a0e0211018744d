"""The IMAP poller against a real Dovecot on loopback: bounces applied and moved aside, refused
ones kept apart, and a poller killed mid-batch applying every bounce once after its restart."""

from __future__ import annotations

import asyncio
import imaplib
from collections.abc import Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.bounces.imap import ImapPoller, Mailbox
from notifier.model import Status
from tests.bounces import samples
from tests.bounces.rig import make_rig
from tests.fakes import dovecot
from tests.fakes.dovecot import Dovecot

pytestmark = pytest.mark.skipif(not dovecot.available(), reason="dovecot-imapd not installed")


@pytest.fixture
def server() -> Iterator[Dovecot]:
    running = Dovecot().start()
    yield running
    running.stop()


def mailbox(server: Dovecot, batch: int = 50) -> Mailbox:
    return Mailbox(
        host="127.0.0.1",
        port=server.port,
        username=dovecot.USER,
        password=dovecot.PASSWORD,
        tls="none",
        batch=batch,
    )


async def test_bounces_are_applied_and_moved(engine: AsyncEngine, server: Dovecot) -> None:
    """A hard bounce and an out-of-office reply go to Processed, a malformed message to
    Refused; the bounced email is permanent-failure; the inbox is empty."""
    rig = make_rig(engine)
    bounced = await rig.sent_email(customer_id=None)
    away = await rig.sent_email(customer_id=None)
    await asyncio.to_thread(server.append, samples.exchange(rig.return_path(bounced)))
    await asyncio.to_thread(server.append, samples.out_of_office(rig.return_path(away)))
    await asyncio.to_thread(server.append, b"Content-Type: multipart/mixed\r\n\r\nbroken\r\n")

    assert await ImapPoller(rig.intake, mailbox(server)).poll_once() == 3
    assert (await rig.notifications.get(bounced.id)).status is Status.PERMANENT_FAILURE  # type: ignore[union-attr]
    assert (await rig.notifications.get(away.id)).status is Status.SENT  # type: ignore[union-attr]
    counts = [await asyncio.to_thread(server.count, f) for f in ("INBOX", "Processed", "Refused")]
    assert counts == [0, 2, 1]
    assert await ImapPoller(rig.intake, mailbox(server)).poll_once() == 0  # nothing read twice


async def test_poller_killed_mid_batch_applies_every_bounce_once(
    engine: AsyncEngine, server: Dovecot
) -> None:
    """Killed after applying the fifth of ten bounces but before moving it, then restarted:
    every notification failed exactly once, every event continued, nothing left behind."""
    rig = make_rig(engine)
    rows = [await rig.sent_email(customer_id=None) for _ in range(10)]
    for row in rows:
        await asyncio.to_thread(server.append, samples.rfc3464(rig.return_path(row)))
    record = rig.intake.continue_event
    assert record is not None
    calls = 0

    async def dies_on_the_fifth(body: bytes) -> None:
        nonlocal calls
        calls += 1
        await record(body)
        if calls == 5:
            asyncio.current_task().cancel()  # type: ignore[union-attr]
            await asyncio.sleep(0)

    rig.intake.continue_event = dies_on_the_fifth
    with pytest.raises(asyncio.CancelledError):
        await ImapPoller(rig.intake, mailbox(server)).poll_once()
    left = await asyncio.to_thread(server.count, "INBOX")
    print(f"killed after applying {calls} bounces; {left} left in the inbox")
    assert left == 6  # four moved, the fifth applied but not moved

    rig.intake.continue_event = record
    assert await ImapPoller(rig.intake, mailbox(server)).poll_once() == 6
    for row in rows:
        history = await rig.notifications.history(row.id)
        failed = [h for h in history if h.status is Status.PERMANENT_FAILURE and h.applied]
        assert len(failed) == 1
    assert len(rig.continued) == 11  # the fifth continued again, harmlessly
    counts = [await asyncio.to_thread(server.count, f) for f in ("INBOX", "Processed")]
    assert counts == [0, 10]


async def test_wrong_password_is_logged_and_survived(engine: AsyncEngine, server: Dovecot) -> None:
    """A failed login fails the poll with an IMAP error and leaves the mailbox untouched."""
    rig = make_rig(engine)
    await asyncio.to_thread(server.append, samples.rfc3464("bounces+x@bounces.stratford.gov.uk"))
    box = Mailbox(
        host="127.0.0.1", port=server.port, username=dovecot.USER, password="wrong", tls="none"
    )
    with pytest.raises(imaplib.IMAP4.error):
        await ImapPoller(rig.intake, box).poll_once()
    assert await asyncio.to_thread(server.count, "INBOX") == 1
