"""The inbound SMTP listener on loopback, spoken to with a real SMTP client (aiosmtplib): it
takes bounces only for signed return paths, relays nothing, limits size, offers STARTTLS and
answers only once a bounce is applied."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.bounces.listener import Listener, server_context
from notifier.model import Status
from tests.bounces import samples
from tests.bounces.rig import Rig, make_rig
from tests.fakes.smtp import make_tls_files

HOST = "127.0.0.1"


@pytest.fixture
async def rig(engine: AsyncEngine) -> Rig:
    return make_rig(engine)


@pytest.fixture
async def listener(rig: Rig) -> AsyncIterator[Listener]:
    server = await Listener(rig.intake, host=HOST, port=0, max_size=64 * 1024).start()
    yield server
    await server.stop()


async def send(
    port: int, rcpt: str, data: bytes, *, starttls: bool = False, ca_file: str | None = None
) -> None:
    """Deliver ``data`` as a bounce is delivered: from the null sender (``MAIL FROM:<>``)."""
    smtp = aiosmtplib.SMTP(hostname=HOST, port=port, start_tls=False, cert_bundle=ca_file)
    async with smtp:
        if starttls:
            await smtp.starttls()
        await smtp.sendmail("", [rcpt], data)


async def test_dsn_for_a_signed_return_path_is_applied(rig: Rig, listener: Listener) -> None:
    """A DSN delivered from the null sender to a signed address gets 250 once the email is
    permanent-failure and its event continued."""
    row = await rig.sent_email()
    await send(listener.port, rig.return_path(row), samples.postfix(rig.return_path(row)))
    now = await rig.notifications.get(row.id)
    assert now is not None and now.status is Status.PERMANENT_FAILURE
    assert len(rig.continued) == 1


async def test_unsigned_recipient_and_other_domains_are_refused_at_rcpt(
    rig: Rig, listener: Listener
) -> None:
    """No open relay: another domain gets 550 5.7.1, an unsigned or forged address on our
    bounce domain 550 5.1.1, before any data."""
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as relay:
        await send(listener.port, "someone@example.org", b"Subject: x\r\n\r\nx\r\n")
    assert relay.value.recipients[0].code == 550
    assert "5.7.1" in relay.value.recipients[0].message
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as unsigned:
        await send(listener.port, "bounces+nothing@bounces.stratford.gov.uk", b"x\r\n")
    assert "5.1.1" in unsigned.value.recipients[0].message


async def test_oversized_message_is_refused(rig: Rig, listener: Listener) -> None:
    """Past the size limit the listener answers 552 (at MAIL, since the client declares the
    SIZE) and nothing changes."""
    row = await rig.sent_email()
    huge = samples.rfc3464(rig.return_path(row)) + b"x" * (70 * 1024) + b"\r\n"
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await send(listener.port, rig.return_path(row), huge)
    assert refused.value.code == 552
    assert (await rig.notifications.get(row.id)).status is Status.SENT  # type: ignore[union-attr]


async def test_malformed_message_is_refused_with_554(rig: Rig, listener: Listener) -> None:
    """A message the parser cannot read is answered 554 5.6.0."""
    row = await rig.sent_email()
    raw = b"Content-Type: multipart/report; report-type=delivery-status\r\n\r\nbroken\r\n"
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await send(listener.port, rig.return_path(row), raw)
    assert (refused.value.code, "5.6.0" in refused.value.message) == (554, True)


async def test_failure_on_our_side_answers_451_and_the_retry_applies(
    engine: AsyncEngine,
) -> None:
    """With the work queue unreachable the listener answers 451, so the sending server keeps
    the bounce; its retry continues the event."""
    rig = make_rig(engine)
    broken = True

    async def continue_event(body: bytes) -> None:
        if broken:
            raise ConnectionError("broker down")
        rig.continued.append(body)

    rig.intake.continue_event = continue_event
    server = await Listener(rig.intake, host=HOST, port=0, max_size=64 * 1024).start()
    try:
        row = await rig.sent_email()
        raw = samples.rfc3464(rig.return_path(row))
        with pytest.raises(aiosmtplib.SMTPDataError) as later:
            await send(server.port, rig.return_path(row), raw)
        assert later.value.code == 451
        broken = False
        await send(server.port, rig.return_path(row), raw)
        assert len(rig.continued) == 1
    finally:
        await server.stop()


async def test_starttls_is_offered_with_a_certificate(engine: AsyncEngine, tmp_path: Path) -> None:
    """With a certificate configured, a client can upgrade with STARTTLS and deliver."""
    rig = make_rig(engine)
    tls = make_tls_files(tmp_path)
    server = await Listener(
        rig.intake,
        host=HOST,
        port=0,
        max_size=64 * 1024,
        tls_context=server_context(tls.cert_file, tls.key_file),
    ).start()
    try:
        row = await rig.sent_email()
        address = rig.return_path(row)
        await send(
            server.port, address, samples.exchange(address), starttls=True, ca_file=str(tls.ca_file)
        )
        assert (await rig.notifications.get(row.id)).status is Status.PERMANENT_FAILURE  # type: ignore[union-attr]
    finally:
        await server.stop()


async def test_burst_of_bounces_is_applied_once_each(rig: Rig, listener: Listener) -> None:
    """Two hundred bounces over eight connections at once: every notification fails exactly
    once and every event is continued."""
    rows = [await rig.sent_email(customer_id=None) for _ in range(200)]

    async def client(part: list[str]) -> None:
        async with aiosmtplib.SMTP(hostname=HOST, port=listener.port, start_tls=False) as smtp:
            for address in part:
                await smtp.sendmail("", [address], samples.rfc3464(address))

    addresses = [rig.return_path(r) for r in rows]
    await asyncio.gather(*(client(addresses[i::8]) for i in range(8)))
    statuses = {(await rig.notifications.get(r.id)).status for r in rows}  # type: ignore[union-attr]
    assert statuses == {Status.PERMANENT_FAILURE}
    assert len(rig.continued) == 200
