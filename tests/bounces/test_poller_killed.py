"""Fault injection: ``notifier run`` SIGKILLed while its IMAP poller works through a batch of
bounces, then restarted: every bounce is applied once and every resident gets one text."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from notifier.model import Channel, Status
from notifier.preferences.model import Preferences
from notifier.store.database import create_engine
from notifier.store.tables import notifications, status_history
from tests.bounces import samples
from tests.bounces.test_end_to_end import KEY
from tests.events import make_event
from tests.fakes import dovecot
from tests.fakes.dovecot import Dovecot
from tests.fakes.smtp import FakeSmtpServer
from tests.service import ServiceProcess, publish_raw
from tests.test_sms_end_to_end import store_customers, wait_for

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(not dovecot.available(), reason="dovecot-imapd not installed"),
]
COUNT = 60


async def counts(database_url: str) -> dict[str, int]:
    """Applied permanent-failure rows per email notification, and texts sent, by event id."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            failed = (
                await conn.execute(
                    select(notifications.c.event_id, func.count())
                    .select_from(status_history.join(notifications))
                    .where(status_history.c.status == str(Status.PERMANENT_FAILURE))
                    .where(status_history.c.applied.is_(True))
                    .group_by(notifications.c.event_id)
                )
            ).all()
    finally:
        await engine.dispose()
    return {event_id: n for event_id, n in failed}


async def test_poller_sigkilled_mid_batch_applies_every_bounce_once(
    tmp_path: Path, amqp_url: str
) -> None:
    """Sixty bounces in the mailbox; the service is killed after some are applied; after the
    restart each email failed exactly once, each resident has exactly one text, the inbox is
    empty and all sixty are in Processed."""
    mailbox = Dovecot().start()
    relay = await FakeSmtpServer().start()

    def service() -> ServiceProcess:
        return ServiceProcess(
            tmp_path,
            amqp_url,
            NOTIFIER_EMAIL_PROVIDER="smtp",
            NOTIFIER_SMTP_HOST="127.0.0.1",
            NOTIFIER_SMTP_PORT=str(relay.port),
            NOTIFIER_SMTP_TLS="none",
            NOTIFIER_BOUNCE_KEY=KEY,
            **mailbox.service_env(),
            NOTIFIER_BOUNCE_IMAP_BATCH="100",
            NOTIFIER_SMS_ALLOW_FICTION_RANGE="true",
        )

    first = service()
    second = service()
    try:
        customers = [
            Preferences(
                council="sdc",
                customer_id=f"SDC-K{n:03}",
                email=f"resident{n}@example.org",
                mobile=f"+4477009{n:05}",
                channel_order=(Channel.EMAIL, Channel.SMS),
                quiet_hours=None,
            )
            for n in range(COUNT)
        ]
        await store_customers(first, *customers)
        first.start()
        await first.wait_ready()
        await wait_for(lambda: '"service.started"' in first.logs(), 10, "service.started")
        events = [make_event(recipient={"customer_id": c.customer_id}) for c in customers]
        await publish_raw(amqp_url, events)
        await wait_for(lambda: len(relay.messages) >= COUNT, 30, f"{COUNT} emails at the relay")
        bounces = [samples.rfc3464(m.mail_from) for m in relay.messages]
        await asyncio.to_thread(mailbox.append_many, bounces)

        await wait_for(lambda: _some(first.database_url), 30, "the first bounces applied")
        first.signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait, 10)
        at_kill = await counts(first.database_url)
        left = await asyncio.to_thread(mailbox.count, "INBOX")
        print(f"killed with {len(at_kill)} of {COUNT} applied, {left} left in the inbox")
        assert left > 0, "the poller finished before it was killed"

        second.start()
        await second.wait_ready()
        await wait_for(
            lambda: _all_texts(tmp_path / "outbox" / "sms", COUNT), 60, "a text for everyone"
        )
        failed = await counts(second.database_url)
        for e in events:
            print(f"event {e['id']}: permanent-failure applied {failed.get(e['id'], 0)} time(s)")
        assert sorted(failed.values()) == [1] * COUNT
        assert len(list((tmp_path / "outbox" / "sms").glob("*.json"))) == COUNT
        inbox = await asyncio.to_thread(mailbox.count, "INBOX")
        processed = await asyncio.to_thread(mailbox.count, "Processed")
        assert (inbox, processed) == (0, COUNT)
    finally:
        for proc in (first, second):
            await asyncio.to_thread(proc.stop)
        print(second.logs()[-3000:])
        await relay.stop()
        mailbox.stop()


async def _some(database_url: str) -> bool:
    return len(await counts(database_url)) > 0


def _all_texts(folder: Path, count: int) -> bool:
    return folder.exists() and len(list(folder.glob("*.json"))) >= count
