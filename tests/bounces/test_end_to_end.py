"""End to end: the real ``notifier run`` sends an email through an SMTP relay (aiosmtpd on
loopback) with a signed return path; a DSN for it comes back, by the inbound listener or by
``notifier bounces ingest``, and the resident gets the text message instead."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest

from notifier.model import Channel, Status
from notifier.preferences.model import Preferences
from notifier.store.database import create_engine
from notifier.store.notifications import NotificationStore
from tests.bounces import samples
from tests.events import make_event
from tests.fakes import dovecot
from tests.fakes.dovecot import Dovecot
from tests.fakes.smtp import FakeSmtpServer
from tests.service import ServiceProcess, drain, free_port, publish_raw
from tests.test_sms_end_to_end import notifications_of, start, store_customers, wait_for

KEY = "end-to-end-bounce-key-0123456789abcdef"


@pytest.fixture
async def relay() -> AsyncIterator[FakeSmtpServer]:
    async with FakeSmtpServer() as server:
        yield server


@pytest.fixture
async def service(
    tmp_path: Path, amqp_url: str, relay: FakeSmtpServer
) -> AsyncIterator[ServiceProcess]:
    proc = ServiceProcess(
        tmp_path,
        amqp_url,
        NOTIFIER_EMAIL_PROVIDER="smtp",
        NOTIFIER_SMTP_HOST="127.0.0.1",
        NOTIFIER_SMTP_PORT=str(relay.port),
        NOTIFIER_SMTP_TLS="none",
        NOTIFIER_BOUNCE_KEY=KEY,
        NOTIFIER_BOUNCE_LISTEN="true",
        NOTIFIER_BOUNCE_PORT=str(free_port()),
        NOTIFIER_SMS_ALLOW_FICTION_RANGE="true",
    )
    yield proc
    # In a thread: the relay runs in this loop and must answer the service's QUIT as it stops.
    await asyncio.to_thread(proc.stop)
    print(proc.logs())


def customer(customer_id: str, *, mobile: str | None) -> Preferences:
    return Preferences(
        council="sdc",
        customer_id=customer_id,
        name="Alex Smith",
        email="rosalind.testperson@example.org",
        mobile=mobile,
        channel_order=(Channel.EMAIL, Channel.SMS) if mobile else (Channel.EMAIL,),
        quiet_hours=None,
    )


async def history(service: ServiceProcess, notification_id: str) -> list[Status]:
    engine = create_engine(service.database_url)
    try:
        entries = await NotificationStore(engine).history(notification_id)
    finally:
        await engine.dispose()
    return [h.status for h in entries if h.applied]


async def sent_email(service: ServiceProcess, relay: FakeSmtpServer, event: dict[str, Any]) -> str:
    """Wait for the relay to take the email; its envelope sender (the signed return path)."""
    await wait_for(lambda: relay.messages, 15, "the email at the relay")
    rows = await wait_for(
        lambda: _status_is(service, event, "email", Status.SENT), 10, "email sent"
    )
    [message] = relay.messages
    assert message.mail_from.startswith("bounces+")
    assert message.mail_from.endswith("@bounces.stratford.gov.uk")
    assert b"Return-Path" not in message.data.split(b"\r\n\r\n")[0]
    assert rows
    return message.mail_from


async def _status_is(
    service: ServiceProcess, event: dict[str, Any], channel: str, status: Status
) -> bool:
    row = (await notifications_of(service, event)).get(channel)
    return row is not None and row.status is status


def outcomes(messages: list[Any]) -> list[tuple[str, str, str | None]]:
    found = []
    for m in messages:
        data = json.loads(m.body)["data"]
        found.append((data["channel"], data["status"], data["reason"]))
    return found


async def test_dsn_by_the_listener_moves_the_resident_to_text(
    service: ServiceProcess, amqp_url: str, relay: FakeSmtpServer
) -> None:
    """sent -> permanent-failure by a DSN delivered to the listener, then the text goes; the
    outcomes say so for both channels and the history reads sent, permanent-failure."""
    await store_customers(service, customer("SDC-E2E1", mobile="+447700900123"))
    await start(service, amqp_url)
    event = make_event(recipient={"customer_id": "SDC-E2E1"})
    await publish_raw(amqp_url, [event])
    return_path = await sent_email(service, relay, event)

    port = int(service.env["NOTIFIER_BOUNCE_PORT"])
    await wait_for(lambda: '"bounce.listener.started"' in service.logs(), 10, "the listener")
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False) as smtp:
        await smtp.sendmail("", [return_path], samples.exchange(return_path))

    await wait_for(lambda: _status_is(service, event, "sms", Status.SENT), 15, "the text sent")
    rows = await notifications_of(service, event)
    assert (rows["email"].status, rows["email"].reason) == (
        Status.PERMANENT_FAILURE,
        "hard-bounce:5.1.10",
    )
    assert await history(service, rows["email"].id) == [
        Status.CREATED,
        Status.SENDING,  # the intent, recorded before the relay is called
        Status.SENT,
        Status.PERMANENT_FAILURE,
    ]
    got = outcomes(await drain(amqp_url, "test.outcomes", expect=3))
    assert got == [
        ("email", "sent", None),
        ("email", "permanent-failure", "hard-bounce:5.1.10"),
        ("sms", "sent", None),
    ]
    assert "rosalind" not in service.logs()


async def test_saved_bounce_by_the_command_and_no_channel_left(
    service: ServiceProcess, amqp_url: str, relay: FakeSmtpServer, tmp_path: Path
) -> None:
    """A statutory notice to a customer with only email: a Postfix bounce applied by
    ``notifier bounces ingest FILE`` fails it, and the continued event finds no channel left,
    which its outcome says."""
    await store_customers(service, customer("SDC-E2E2", mobile=None))
    await start(service, amqp_url)
    event = make_event(
        type="council-tax.bill.issued",
        recipient={"customer_id": "SDC-E2E2"},
        personalisation={
            "property_address": "Flat 2, 14 Shakespeare Street, Stratford-upon-Avon, CV37 6RN",
            "year": "2027 to 2028",
            "annual_amount": "2184.36",
            "instalments": 10,
            "first_payment_amount": "218.54",
            "first_payment_date": "2027-04-01",
        },
    )
    event["source"] = "/councils/sdc/council-tax"
    await publish_raw(amqp_url, [event])
    return_path = await sent_email(service, relay, event)
    saved = tmp_path / "bounce.eml"
    saved.write_bytes(samples.postfix(return_path))

    command = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "notifier",
        "bounces",
        "ingest",
        str(saved),
        env=service.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(command.communicate(), 60)
    assert command.returncode == 0, err.decode()
    assert out.decode().strip() == f"{saved}: hard applied"

    got = outcomes(await drain(amqp_url, "test.outcomes", expect=3))
    assert got == [
        ("email", "sent", None),
        ("email", "permanent-failure", "hard-bounce:5.1.1"),
        ("email", "permanent-failure", "no-channel-left"),
    ]


@pytest.mark.skipif(not dovecot.available(), reason="dovecot-imapd not installed")
async def test_dsn_in_the_imap_mailbox_moves_the_resident_to_text(
    tmp_path: Path, amqp_url: str, relay: FakeSmtpServer
) -> None:
    """The same journey with the bounce polled from a real IMAP mailbox (Dovecot): sent,
    permanent-failure, then the text; the bounce ends in the Processed folder."""
    mailbox = Dovecot().start()
    service = ServiceProcess(
        tmp_path,
        amqp_url,
        NOTIFIER_EMAIL_PROVIDER="smtp",
        NOTIFIER_SMTP_HOST="127.0.0.1",
        NOTIFIER_SMTP_PORT=str(relay.port),
        NOTIFIER_SMTP_TLS="none",
        NOTIFIER_BOUNCE_KEY=KEY,
        **mailbox.service_env(),
        NOTIFIER_SMS_ALLOW_FICTION_RANGE="true",
    )
    try:
        await store_customers(service, customer("SDC-E2E3", mobile="+447700900124"))
        await start(service, amqp_url)
        event = make_event(recipient={"customer_id": "SDC-E2E3"})
        await publish_raw(amqp_url, [event])
        return_path = await sent_email(service, relay, event)
        await asyncio.to_thread(mailbox.append, samples.gmail(return_path, status="5.1.1"))

        await wait_for(lambda: _status_is(service, event, "sms", Status.SENT), 20, "the text")
        rows = await notifications_of(service, event)
        assert await history(service, rows["email"].id) == [
            Status.CREATED,
            Status.SENDING,  # the intent, recorded before the relay is called
            Status.SENT,
            Status.PERMANENT_FAILURE,
        ]
        await wait_for(lambda: mailbox.count("Processed") == 1, 10, "the bounce moved")
        assert mailbox.count("INBOX") == 0
    finally:
        await asyncio.to_thread(service.stop)
        print(service.logs())
        mailbox.stop()
