"""The SMTP email channel against a real aiosmtpd relay on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import logging
import sys
import traceback
from collections.abc import AsyncIterator
from email import message_from_bytes, policy
from pathlib import Path

import dkim
import pytest
from aiosmtplib import SMTPRecipientRefused, SMTPResponseException
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from notifier.channels.base import Channel
from notifier.channels.mime import DkimSigner
from notifier.channels.smtp import (
    REPLIES,
    SmtpChannel,
    Stage,
    command_token,
    failure_for,
    static_token,
)
from notifier.councils import load_councils
from notifier.errors import (
    ConfigurationError,
    DeliveryFailure,
    PermanentFailure,
    TechnicalFailure,
    TemporaryFailure,
)
from notifier.messages import EmailMessage, SmsMessage
from notifier.model import Receipt, Status
from notifier.settings import load_settings
from tests.fakes.smtp import FakeSmtpServer, TlsFiles, make_tls_files

COUNCIL = load_councils()["sdc"]
USER, PASSWORD, TOKEN = "notify@stratford.gov.uk", "relay-secret", "ya29.test-access-token"
BOUNCES = "bounces@notify.stratford.gov.uk"


def email(to: str = "alex@example.org", n: int = 1) -> EmailMessage:
    return EmailMessage(
        notification_id=f"n-{n}",
        council=COUNCIL,
        event_type="planning.application.received",
        to=to,
        subject="We have your planning application 24/01234/FUL",
        text="We have your planning application.\n",
        html="<p>We have your planning application.</p>",
        unsubscribe_url="https://notify.stratford.gov.uk/u/abc",
    )


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
async def relay() -> AsyncIterator[FakeSmtpServer]:
    """A plain relay without TLS or AUTH (a local relay on a trusted network)."""
    async with FakeSmtpServer() as server:
        yield server


@pytest.fixture
async def secure_relay(tls_files: TlsFiles) -> AsyncIterator[FakeSmtpServer]:
    """A submission server: STARTTLS, then AUTH PLAIN/LOGIN or XOAUTH2, then mail."""
    async with FakeSmtpServer(
        starttls=tls_files, users={USER: PASSWORD}, oauth_tokens={USER: TOKEN}
    ) as server:
        yield server


def plain_channel(server: FakeSmtpServer, **options: object) -> SmtpChannel:
    settings: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "tls": "none",
        "timeout": 5.0,
        "local_hostname": "notifier.test",
    }
    settings.update(options)
    return SmtpChannel(**settings)  # type: ignore[arg-type]


def secure_channel(server: FakeSmtpServer, tls_files: TlsFiles, **options: object) -> SmtpChannel:
    settings: dict[str, object] = {
        "tls": "starttls",
        "ca_file": tls_files.ca_file,
        "username": USER,
        "password": PASSWORD,
    }
    settings.update(options)
    return plain_channel(server, **settings)


# -- delivery ---------------------------------------------------------------------------------


async def test_starttls_and_auth_deliver_the_message(
    secure_relay: FakeSmtpServer, tls_files: TlsFiles
) -> None:
    """Over STARTTLS with AUTH, the relay gets one envelope and the receipt holds the Message-ID."""
    channel = secure_channel(secure_relay, tls_files, bounce_address=BOUNCES)
    receipt = await channel.send(email())
    await channel.aclose()
    [received] = secure_relay.messages
    assert received.tls and received.login == USER
    assert received.mail_from == BOUNCES
    assert received.rcpt_tos == ("alex@example.org",)
    parsed = message_from_bytes(received.data, policy=policy.default)
    assert receipt == Receipt(status=Status.SENT, provider_ref=parsed["Message-ID"])
    assert parsed["Message-ID"].endswith("@stratford.gov.uk>")


async def test_without_bounce_address_the_envelope_sender_is_the_from_address(
    relay: FakeSmtpServer,
) -> None:
    """MAIL FROM falls back to the council's From address."""
    channel = plain_channel(relay)
    await channel.send(email())
    await channel.aclose()
    assert relay.messages[0].mail_from == COUNCIL.email_from


async def test_relay_receives_the_exact_dkim_signed_bytes(
    relay: FakeSmtpServer, tmp_path: Path
) -> None:
    """What arrives still verifies: the channel sends the bytes that were signed."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "dkim.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    channel = plain_channel(relay, dkim=DkimSigner.from_file(path, "s1"))
    await channel.send(email())
    await channel.aclose()
    assert dkim.verify(relay.messages[0].data, dnsfunc=lambda name, timeout=5: record)


async def test_starttls_required_but_not_offered_fails_closed(
    relay: FakeSmtpServer, tls_files: TlsFiles
) -> None:
    """A relay that does not offer STARTTLS gets no credentials and no mail: a stop, not a retry."""
    channel = secure_channel(relay, tls_files)
    with pytest.raises(TechnicalFailure) as info:
        await channel.send(email())
    await channel.aclose()
    assert info.value.code == "smtp-starttls-unavailable"
    assert not info.value.retryable
    assert relay.messages == [] and relay.auth_attempts == []


async def test_certificate_not_trusted_fails_closed(
    secure_relay: FakeSmtpServer, tls_files: TlsFiles
) -> None:
    """A certificate outside the trusted CAs stops the channel before AUTH."""
    channel = secure_channel(secure_relay, tls_files, ca_file=None)
    with pytest.raises(TechnicalFailure) as info:
        await channel.send(email())
    await channel.aclose()
    assert info.value.code == "smtp-tls-certificate"
    assert not info.value.retryable
    assert secure_relay.auth_attempts == []


async def test_implicit_tls_delivers(tls_files: TlsFiles) -> None:
    """With implicit TLS (port 465 style) the session is encrypted from the first byte."""
    async with FakeSmtpServer(implicit_tls=tls_files, users={USER: PASSWORD}) as server:
        channel = secure_channel(server, tls_files, tls="implicit")
        receipt = await channel.send(email())
        await channel.aclose()
    assert receipt.status is Status.SENT
    assert server.messages[0].tls and server.messages[0].login == USER


async def test_xoauth2_authenticates_with_a_fresh_token_per_connection(
    secure_relay: FakeSmtpServer, tls_files: TlsFiles
) -> None:
    """With a token provider the channel uses AUTH XOAUTH2 and asks for a token per connection."""
    calls = 0

    async def provider() -> str:
        nonlocal calls
        calls += 1
        return TOKEN

    channel = secure_channel(secure_relay, tls_files, password=None, token_provider=provider)
    for n in range(3):
        await channel.send(email(n=n))
    await channel.aclose()
    assert secure_relay.auth_attempts == ["XOAUTH2"]
    assert calls == channel.connections_opened == 1
    assert [m.login for m in secure_relay.messages] == [USER] * 3


async def test_xoauth2_token_from_a_command(
    secure_relay: FakeSmtpServer, tls_files: TlsFiles
) -> None:
    """command_token runs a program and uses what it prints as the access token."""
    provider = command_token([sys.executable, "-c", f"print({TOKEN!r})"])
    channel = secure_channel(secure_relay, tls_files, password=None, token_provider=provider)
    await channel.send(email())
    await channel.aclose()
    assert secure_relay.messages[0].login == USER


async def test_failing_token_command_is_retryable_technical_failure(
    secure_relay: FakeSmtpServer, tls_files: TlsFiles
) -> None:
    """A token command that fails is a retryable problem on our side, with no mail sent."""
    provider = command_token([sys.executable, "-c", "raise SystemExit(3)"])
    channel = secure_channel(secure_relay, tls_files, password=None, token_provider=provider)
    with pytest.raises(TechnicalFailure) as info:
        await channel.send(email())
    await channel.aclose()
    assert (info.value.code, info.value.retryable) == ("smtp-oauth-token", True)
    assert secure_relay.messages == []


async def test_rejected_xoauth2_token_stops_the_channel(
    secure_relay: FakeSmtpServer, tls_files: TlsFiles
) -> None:
    """A refused token is answered 535: technical, not retryable (fix the app registration)."""
    channel = secure_channel(
        secure_relay, tls_files, password=None, token_provider=static_token("expired")
    )
    with pytest.raises(TechnicalFailure) as info:
        await channel.send(email())
    await channel.aclose()
    assert (info.value.code, info.value.retryable) == ("smtp-535", False)


async def test_xoauth2_not_offered_stops_the_channel(tls_files: TlsFiles) -> None:
    """A relay without XOAUTH2 is a configuration problem, found before any token is fetched."""
    async with FakeSmtpServer(starttls=tls_files, users={USER: PASSWORD}) as server:
        channel = secure_channel(
            server, tls_files, password=None, token_provider=static_token(TOKEN)
        )
        with pytest.raises(TechnicalFailure) as info:
            await channel.send(email())
        await channel.aclose()
    assert (info.value.code, info.value.retryable) == ("smtp-xoauth2-unavailable", False)


async def test_wrong_password_stops_the_channel(
    secure_relay: FakeSmtpServer, tls_files: TlsFiles
) -> None:
    """535 to AUTH is technical and not retryable."""
    channel = secure_channel(secure_relay, tls_files, password="wrong")
    with pytest.raises(TechnicalFailure) as info:
        await channel.send(email())
    await channel.aclose()
    assert (info.value.code, info.value.retryable) == ("smtp-535", False)


# -- the error table ----------------------------------------------------------------------------

# (relay stage, reply, failure type, retryable, code); one or more rows per entry of REPLIES.
ERROR_ROWS: list[tuple[str, str, type[DeliveryFailure], bool, str]] = [
    ("MAIL", "421 4.7.0 Try again later, closing connection", TechnicalFailure, True, "smtp-421"),
    ("RCPT", "421 4.3.2 System not accepting network messages", TechnicalFailure, True, "smtp-421"),
    ("AUTH", "535 5.7.8 Authentication credentials invalid", TechnicalFailure, False, "smtp-535"),
    (
        "AUTH",
        "535 5.7.30 Basic authentication is not supported for Client Submission",
        TechnicalFailure,
        False,
        "smtp-535",
    ),
    ("AUTH", "454 4.7.0 Temporary authentication failure", TechnicalFailure, True, "smtp-454"),
    ("DATA", "552 5.2.3 Message size exceeds fixed limit", TechnicalFailure, False, "smtp-552"),
    ("DATA", "554 5.6.0 Message content rejected", TechnicalFailure, False, "smtp-554"),
    (
        "DATA",
        "550 5.7.26 Unauthenticated email is not accepted",
        TechnicalFailure,
        False,
        "smtp-550",
    ),
    ("RCPT", "550 5.7.1 Relaying denied", TechnicalFailure, False, "smtp-550"),
    ("MAIL", "550 5.7.1 Sender not authorised", TechnicalFailure, False, "smtp-550"),
    (
        "RCPT",
        "550 5.1.1 The email account that you tried to reach does not exist",
        PermanentFailure,
        False,
        "smtp-550",
    ),
    ("RCPT", "552 5.2.2 Mailbox full", TemporaryFailure, True, "smtp-552"),
    ("DATA", "552 5.2.2 The email account is over quota", TemporaryFailure, True, "smtp-552"),
    ("RCPT", "550 5.2.1 Mailbox disabled", PermanentFailure, False, "smtp-550"),
    (
        "RCPT",
        "552 Requested mail action aborted: exceeded storage",
        TemporaryFailure,
        True,
        "smtp-552",
    ),
    ("RCPT", "552 5.5.3 Too many recipients", TemporaryFailure, True, "smtp-552"),
    ("DATA", "550 5.1.1 No such user", PermanentFailure, False, "smtp-550"),
    ("RCPT", "553 Mailbox name not allowed", PermanentFailure, False, "smtp-553"),
    ("RCPT", "551 User not local", PermanentFailure, False, "smtp-551"),
    ("RCPT", "451 4.7.1 Greylisted, please try again later", TechnicalFailure, True, "smtp-451"),
    ("DATA", "451 4.3.0 Local error in processing", TechnicalFailure, True, "smtp-451"),
    ("RCPT", "452 4.4.5 Insufficient system storage", TechnicalFailure, True, "smtp-452"),
    ("RCPT", "452 4.2.2 The email account is over quota", TemporaryFailure, True, "smtp-452"),
    ("RCPT", "450 4.2.1 Receiving mail too fast", TemporaryFailure, True, "smtp-450"),
    ("RCPT", "450 Mailbox unavailable", TemporaryFailure, True, "smtp-450"),
    ("DATA", "451 Requested action aborted", TemporaryFailure, True, "smtp-451"),
    ("MAIL", "451 Local error in processing", TechnicalFailure, True, "smtp-451"),
    ("MAIL", "452 Insufficient system storage", TechnicalFailure, True, "smtp-452"),
    ("MAIL", "553 5.1.8 Sender address rejected", TechnicalFailure, False, "smtp-553"),
    ("DATA", "554 Transaction failed", TechnicalFailure, False, "smtp-554"),
    ("DATA", "550 Message rejected", TechnicalFailure, False, "smtp-550"),
]


@pytest.mark.parametrize(
    ("stage", "reply", "kind", "retryable", "code"),
    ERROR_ROWS,
    ids=[f"{row[0]}-{row[1][:9].strip()}" for row in ERROR_ROWS],
)
async def test_relay_reply_maps_to_failure(
    secure_relay: FakeSmtpServer,
    tls_files: TlsFiles,
    stage: str,
    reply: str,
    kind: type[DeliveryFailure],
    retryable: bool,
    code: str,
) -> None:
    """Each relay reply becomes the failure REPLIES gives, with code, stage and enhanced code."""
    # aiosmtplib tries each offered AUTH mechanism in turn, so script both PLAIN and LOGIN.
    secure_relay.fail_next(stage, reply, count=2 if stage == "AUTH" else 1)  # type: ignore[arg-type]
    channel = secure_channel(secure_relay, tls_files)
    with pytest.raises(DeliveryFailure) as info:
        await channel.send(email())
    await channel.aclose()
    assert type(info.value) is kind
    assert (info.value.code, info.value.retryable) == (code, retryable)
    enhanced = reply.split()[1] if reply.split()[1][0].isdigit() else ""
    assert info.value.detail == f"{stage.lower()} {enhanced}".strip()
    assert secure_relay.messages == []


def test_every_row_of_the_table_is_exercised() -> None:
    """Each REPLIES entry is the first match for at least one end-to-end row above."""
    hit = set()
    for stage, reply, *_ in ERROR_ROWS:
        code, word = int(reply[:3]), reply.split()[1]
        enhanced = word if word[0].isdigit() else ""
        for index, row in enumerate(REPLIES):
            if row.stages and stage.lower() not in row.stages:
                continue
            if row.code not in (str(code), f"{reply[0]}xx"):
                continue
            if row.enhanced and not enhanced.startswith(row.enhanced):
                continue
            hit.add(index)
            break
    assert hit == set(range(len(REPLIES)))


@pytest.mark.parametrize(
    ("stage", "exc", "kind", "retryable"),
    [
        (
            "rcpt",
            SMTPRecipientRefused(550, "5.1.1 <a@b.example> unknown", "a@b.example"),
            PermanentFailure,
            False,
        ),
        (
            "connect",
            SMTPResponseException(554, "5.7.1 Your IP is blocked"),
            TechnicalFailure,
            False,
        ),
        ("connect", SMTPResponseException(421, "4.3.2 Try later"), TechnicalFailure, True),
        ("data", SMTPResponseException(-1, "Malformed SMTP response"), TechnicalFailure, True),
        ("data", TimeoutError(), TechnicalFailure, True),
        ("connect", ConnectionRefusedError(111, "Connection refused"), TechnicalFailure, True),
        ("rcpt", ValueError("address contains a line break"), PermanentFailure, False),
    ],
)
def test_failure_for_maps_replies_and_transport_errors(
    stage: Stage, exc: BaseException, kind: type[DeliveryFailure], retryable: bool
) -> None:
    """Replies outside the transaction and transport errors map through the same function."""
    failure = failure_for(exc, stage)
    assert type(failure) is kind and failure.retryable is retryable
    assert "b.example" not in str(failure)


async def test_refused_transaction_leaves_the_connection_usable(relay: FakeSmtpServer) -> None:
    """After a refusal the channel resets the envelope and reuses the same connection."""
    relay.fail_next("RCPT", "550 5.1.1 No such user")
    channel = plain_channel(relay)
    with pytest.raises(PermanentFailure):
        await channel.send(email("gone@example.org"))
    await channel.send(email())
    await channel.aclose()
    assert relay.connections == channel.connections_opened == 1
    assert relay.messages[0].rcpt_tos == ("alex@example.org",)


async def test_421_closes_the_connection_and_the_next_message_opens_another(
    relay: FakeSmtpServer,
) -> None:
    """A 421 means the relay is closing: the connection is not put back in the pool."""
    relay.fail_next("MAIL", "421 4.7.0 Try again later")
    channel = plain_channel(relay)
    with pytest.raises(TechnicalFailure):
        await channel.send(email())
    await channel.send(email())
    await channel.aclose()
    assert channel.connections_opened == 2 and len(relay.messages) == 1


async def test_relay_that_never_answers_times_out_retryably(relay: FakeSmtpServer) -> None:
    """A stalled relay is a retryable technical failure after the per-message timeout."""
    relay.stall_next("RCPT")
    channel = plain_channel(relay, timeout=0.5)
    with pytest.raises(TechnicalFailure) as info:
        await channel.send(email())
    await channel.send(email())  # the stalled connection was discarded, not reused
    await channel.aclose()
    assert (info.value.code, info.value.detail, info.value.retryable) == (
        "smtp-timeout",
        "rcpt",
        True,
    )
    assert channel.connections_opened == 2 and len(relay.messages) == 1


async def test_unreachable_relay_is_retryable_technical_failure() -> None:
    """Nothing listening on the port: a retryable connect failure."""
    async with FakeSmtpServer() as server:
        port = server.port
    channel = SmtpChannel(host="127.0.0.1", port=port, tls="none", timeout=5.0)
    with pytest.raises(TechnicalFailure) as info:
        await channel.send(email())
    await channel.aclose()
    assert (info.value.code, info.value.retryable) == ("smtp-connect", True)


# -- the pool -----------------------------------------------------------------------------------


async def test_thousand_messages_reuse_at_most_pool_size_connections(
    secure_relay: FakeSmtpServer, tls_files: TlsFiles
) -> None:
    """1,000 concurrent sends over STARTTLS+AUTH open no more connections than the pool holds."""
    # The relay shares this event loop, so on a busy machine a handshake can wait behind
    # hundreds of queued sends: a generous per-message timeout keeps the test about the pool.
    channel = secure_channel(secure_relay, tls_files, pool_size=4, timeout=60.0)
    receipts = await asyncio.gather(*(channel.send(email(n=n)) for n in range(1000)))
    await channel.aclose()
    print(
        f"\n1,000 messages: relay saw {secure_relay.connections} connections "
        f"(channel opened {channel.connections_opened}, pool size 4)"
    )
    assert len(secure_relay.messages) == 1000
    assert len({r.provider_ref for r in receipts}) == 1000
    assert secure_relay.connections == channel.connections_opened <= 4


async def test_dropped_connection_reconnects_once(relay: FakeSmtpServer) -> None:
    """A pooled connection dropped by the relay is replaced and the message still goes."""
    channel = plain_channel(relay)
    await channel.send(email(n=1))
    relay.drop_next()
    receipt = await channel.send(email(n=2))
    await channel.aclose()
    assert receipt.status is Status.SENT
    assert relay.connections == channel.connections_opened == 2
    assert len(relay.messages) == 2


async def test_connection_closed_while_idle_is_replaced(relay: FakeSmtpServer) -> None:
    """An idle connection the relay closed (server idle timeout) is not used again."""
    channel = plain_channel(relay)
    await channel.send(email(n=1))
    relay.drop_all()
    await channel.send(email(n=2))
    await channel.aclose()
    assert channel.connections_opened == 2 and len(relay.messages) == 2


async def test_dropped_twice_is_retryable_technical_failure(relay: FakeSmtpServer) -> None:
    """The channel reconnects only once; a second drop is a retryable technical failure."""
    relay.drop_next(2)
    channel = plain_channel(relay)
    with pytest.raises(TechnicalFailure) as info:
        await channel.send(email())
    await channel.aclose()
    assert (info.value.code, info.value.retryable) == ("smtp-disconnected", True)
    assert relay.connections == 2


async def test_drop_after_data_is_not_resent_at_once(relay: FakeSmtpServer) -> None:
    """Dropped after the data went: the relay may have it, so no immediate resend."""
    relay.drop_next(stage="DATA")
    channel = plain_channel(relay)
    with pytest.raises(TechnicalFailure) as info:
        await channel.send(email())
    await channel.aclose()
    assert (info.value.code, info.value.detail, info.value.retryable) == (
        "smtp-disconnected",
        "data",
        True,
    )
    assert relay.connections == 1


async def test_aclose_quits_every_pooled_connection(relay: FakeSmtpServer) -> None:
    """aclose sends QUIT on each pooled connection, and the channel refuses to send after it."""
    channel = plain_channel(relay, pool_size=3)
    await asyncio.gather(*(channel.send(email(n=n)) for n in range(12)))
    await channel.aclose()
    assert channel.connections_opened >= 1  # the pool opened at least one; each must QUIT
    assert relay.quits == channel.connections_opened
    with pytest.raises(TechnicalFailure):
        await channel.send(email())


# -- personal data --------------------------------------------------------------------------------

CANARY = "zz.canary-7f3a9@resident-example.org"


@pytest.mark.parametrize(
    "trouble",
    [
        "550 5.1.1 <{a}>: Recipient address rejected: User unknown",
        "452 4.2.2 <{a}>: mailbox full",
        "451 4.7.1 <{a}>: greylisted",
        "drop",
        "stall",
    ],
)
async def test_address_never_reaches_logs_or_failures(
    relay: FakeSmtpServer,
    trouble: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An address the relay quotes back appears in no log line and no part of the failure."""
    # Checked: str, repr, detail, args, the formatted traceback, chained exceptions, caplog
    # records (all loggers at DEBUG) and everything written to stdout and stderr.
    caplog.set_level(logging.DEBUG)
    # The fake relay's own logger (aiosmtpd's "mail.log") plays the remote server, not us.
    caplog.set_level(logging.WARNING, logger="mail.log")
    if trouble == "drop":
        relay.drop_next(2)
    elif trouble == "stall":
        relay.stall_next("RCPT")
    else:
        relay.refuse([CANARY], trouble.format(a=CANARY))
    channel = plain_channel(relay, timeout=0.5)
    with pytest.raises(DeliveryFailure) as info:
        await channel.send(email(CANARY))
    await channel.send(email())
    await channel.aclose()
    failure = info.value
    assert failure.__cause__ is None and failure.__context__ is None
    texts = [
        str(failure),
        repr(failure),
        failure.detail,
        repr(failure.args),
        "".join(traceback.format_exception(failure)),
    ]
    texts += [record.getMessage() + repr(record.__dict__) for record in caplog.records]
    captured = capsys.readouterr()
    texts += [captured.out, captured.err]
    for text in texts:
        assert "7f3a9" not in text and "resident-example" not in text.lower()


# -- configuration --------------------------------------------------------------------------------


async def test_from_settings_builds_a_working_channel(relay: FakeSmtpServer) -> None:
    """The NOTIFIER_SMTP_* settings give a channel that delivers."""
    settings = load_settings(
        smtp_host=relay.host,
        smtp_port=relay.port,
        smtp_tls="none",
        smtp_pool_size=2,
        smtp_bounce_address=BOUNCES,
        smtp_local_hostname="notifier.test",
    )
    channel = SmtpChannel.from_settings(settings.email)
    proto: Channel = channel
    assert proto.name == "email"
    await channel.send(email())
    await channel.aclose()
    assert relay.messages[0].mail_from == BOUNCES


@pytest.mark.parametrize(
    ("settings", "variable"),
    [
        ({"smtp_dkim_selector": "s1"}, "NOTIFIER_SMTP_DKIM_KEY_FILE"),
        (
            {"smtp_tls": "none", "smtp_username": "u", "smtp_password": "pw-s3cret"},
            "NOTIFIER_SMTP_TLS",
        ),
        (
            {"smtp_username": "u", "smtp_password": "pw-s3cret", "smtp_oauth_token": "tok-s3cret"},
            "NOTIFIER_SMTP_PASSWORD",
        ),
        ({"smtp_oauth_token": "tok-s3cret"}, "NOTIFIER_SMTP_USERNAME"),
        ({"smtp_ca_file": "/nonexistent/ca.pem"}, "NOTIFIER_SMTP_CA_FILE"),
    ],
)
def test_unworkable_settings_fail_at_start_up_naming_the_variable(
    settings: dict[str, object], variable: str
) -> None:
    """Misconfiguration is a ConfigurationError that names the variable and no secret."""
    with pytest.raises(ConfigurationError, match=variable) as info:
        SmtpChannel.from_settings(load_settings(**settings).email)
    assert "s3cret" not in str(info.value)


async def test_other_message_types_are_refused() -> None:
    """The email channel only takes EmailMessages."""
    channel = SmtpChannel(host="127.0.0.1", port=25, tls="none")
    sms = SmsMessage(
        notification_id="n",
        council=COUNCIL,
        event_type="x.y.z",
        to="07700900123",
        body="hi",
        fragments=1,
    )
    with pytest.raises(TypeError):
        await channel.send(sms)
