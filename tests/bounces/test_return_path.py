"""The SMTP channel's envelope sender with signed return paths, against a real aiosmtpd relay."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator

import pytest

from notifier.bounces.verp import ReturnPaths
from notifier.channels.smtp import SmtpChannel
from notifier.councils import load_councils
from notifier.messages import EmailMessage
from tests.bounces.rig import KEY
from tests.fakes.smtp import FakeSmtpServer

COUNCILS = load_councils()


@pytest.fixture
async def relay() -> AsyncIterator[FakeSmtpServer]:
    async with FakeSmtpServer() as server:
        yield server


def email(council: str = "sdc") -> EmailMessage:
    return EmailMessage(
        notification_id=str(uuid.uuid4()),
        council=COUNCILS[council],
        event_type="planning.application.received",
        to="alex@example.org",
        subject="We have your planning application 24/01234/FUL",
        text="We have your planning application.\n",
        html="<p>We have your planning application.</p>",
    )


async def test_mail_from_is_the_signed_return_path(relay: FakeSmtpServer) -> None:
    """MAIL FROM is the notification's signed address, which verifies back to it; no
    Return-Path header is written (the final server adds it)."""
    paths = ReturnPaths(KEY, COUNCILS)
    channel = SmtpChannel(
        host=relay.host, port=relay.port, tls="none", return_path=paths.for_message
    )
    message = email()
    await channel.send(message)
    await channel.aclose()
    [received] = relay.messages
    token = paths.verify(received.mail_from)
    assert token is not None and token.notification_id == message.notification_id
    assert b"\nReturn-Path:" not in received.data.split(b"\r\n\r\n")[0]


async def test_council_without_bounce_address_keeps_the_default_sender(
    relay: FakeSmtpServer,
) -> None:
    """A council with no bounce address is sent from NOTIFIER_SMTP_BOUNCE_ADDRESS as before."""
    councils = {**COUNCILS, "sdc": dataclasses.replace(COUNCILS["sdc"], bounce_address="")}
    paths = ReturnPaths(KEY, councils)
    channel = SmtpChannel(
        host=relay.host,
        port=relay.port,
        tls="none",
        bounce_address="bounces@notify.stratford.gov.uk",
        return_path=paths.for_message,
    )
    await channel.send(dataclasses.replace(email(), council=councils["sdc"]))
    await channel.aclose()
    assert relay.messages[0].mail_from == "bounces@notify.stratford.gov.uk"
