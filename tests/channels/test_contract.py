"""One contract, run against every channel adapter on its real protocol (files, SMTP to aiosmtpd,
HTTP to the Twilio fake, the letter spool in a real database).

An adapter has a name; takes its kind of message and returns a receipt; refuses any other kind as
a wiring bug (TypeError); refuses a recipient it can never reach with a PermanentFailure that
names no part of the recipient, in its text or in any log line; and can be closed.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from pathlib import Path

import pytest
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.channels.base import Channel
from notifier.channels.notify import (
    Account,
    ApiKey,
    NotifyClient,
    NotifyEmailChannel,
    NotifyLetterChannel,
    NotifySmsChannel,
)
from notifier.channels.outbox import EmailOutbox, LetterOutbox, SmsOutbox
from notifier.channels.smtp import SmtpChannel
from notifier.channels.twilio import TwilioChannel
from notifier.councils import load_councils
from notifier.errors import PermanentFailure
from notifier.messages import EmailMessage, LetterMessage, Message, Paragraph, SmsMessage
from notifier.model import Status
from notifier.printhouse.channel import SpoolingLetterChannel
from notifier.printhouse.spool import Spool
from tests.fakes.notify import API_KEY, EMAIL_TEMPLATE, SMS_TEMPLATE, FakeNotify
from tests.fakes.smtp import FakeSmtpServer
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

COUNCIL = load_councils()["sdc"]
FORM_FIELDS = ("To", "Body", "From", "MessagingServiceSid")
# Distinctive details: none of them may appear in a failure's text or a log line.
EMAIL = "contract.resident@example.org"
REFUSED_EMAIL = "refused.resident@example.org"
MOBILE = "+447723456789"
LANDLINE = "020 7946 0991"
ADDRESS = ("Flat 2", "10 Contract Street", "Stratford-upon-Avon", "CV37 6AA")
NOWHERE = ("Flat 2", "10 Contract Street", "Stratford-upon-Avon")

EMAIL_MESSAGE = EmailMessage(
    notification_id="n-contract",
    council=COUNCIL,
    event_type="planning.application.received",
    to=EMAIL,
    subject="We have your planning application",
    text="We have your application.\n",
    html="<p>We have your application.</p>",
)
SMS_MESSAGE = SmsMessage(
    notification_id="n-contract",
    council=COUNCIL,
    event_type="planning.application.received",
    to=MOBILE,
    body="We have your planning application.",
    fragments=1,
)
LETTER_MESSAGE = LetterMessage(
    notification_id="n-contract",
    council=COUNCIL,
    event_type="planning.application.received",
    address=ADDRESS,
    name="Contract Resident",
    title="We have your planning application",
    reference="24/01234/FUL",
    blocks=(Paragraph("We have your application."),),
    date=date(2027, 1, 4),
)


@dataclasses.dataclass
class Case:
    channel: Channel
    good: Message
    unreachable: Message
    secrets: tuple[str, ...]
    accepted: frozenset[Status]
    # What the far end holds after the good message: the bytes the receipt must carry.
    handed_over: Callable[[], bytes] = lambda: b""


Factory = Callable[[Path, AsyncEngine], Awaitable[tuple[Case, Callable[[], Awaitable[None]]]]]


async def email_outbox(
    tmp: Path, engine: AsyncEngine
) -> tuple[Case, Callable[[], Awaitable[None]]]:
    case = Case(
        EmailOutbox(tmp),
        EMAIL_MESSAGE,
        dataclasses.replace(EMAIL_MESSAGE, to="not an address"),
        ("not an address",),
        frozenset({Status.SENT}),
        lambda: (tmp / "email/n-contract.eml").read_bytes(),
    )
    return case, _nothing


async def sms_outbox(tmp: Path, engine: AsyncEngine) -> tuple[Case, Callable[[], Awaitable[None]]]:
    case = Case(
        SmsOutbox(tmp),
        SMS_MESSAGE,
        dataclasses.replace(SMS_MESSAGE, to=LANDLINE),
        (LANDLINE, "7946"),
        frozenset({Status.SENT}),
        lambda: (tmp / "sms/n-contract.json").read_bytes(),
    )
    return case, _nothing


async def letter_outbox(
    tmp: Path, engine: AsyncEngine
) -> tuple[Case, Callable[[], Awaitable[None]]]:
    case = Case(
        LetterOutbox(tmp),
        LETTER_MESSAGE,
        dataclasses.replace(LETTER_MESSAGE, address=NOWHERE),
        ("Contract Street", "Contract Resident"),
        frozenset({Status.SENT}),
        lambda: (tmp / "letter/n-contract.pdf").read_bytes(),
    )
    return case, _nothing


async def smtp(tmp: Path, engine: AsyncEngine) -> tuple[Case, Callable[[], Awaitable[None]]]:
    server = FakeSmtpServer()
    await server.__aenter__()
    server.refuse([REFUSED_EMAIL], "550 5.1.1 No such user")
    channel = SmtpChannel(
        host=server.host, port=server.port, tls="none", timeout=5.0, local_hostname="n.test"
    )
    case = Case(
        channel,
        EMAIL_MESSAGE,
        dataclasses.replace(EMAIL_MESSAGE, to=REFUSED_EMAIL),
        (REFUSED_EMAIL, "refused.resident"),
        frozenset({Status.SENT}),
        lambda: server.messages[-1].data,
    )

    async def stop() -> None:
        await server.__aexit__(None, None, None)

    return case, stop


async def twilio(tmp: Path, engine: AsyncEngine) -> tuple[Case, Callable[[], Awaitable[None]]]:
    fake = FakeTwilio()
    await fake.__aenter__()
    channel = TwilioChannel(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        sender="StratfordDC",
        base_url=fake.base_url,
        timeout=5.0,
    )
    case = Case(
        channel,
        SMS_MESSAGE,
        dataclasses.replace(SMS_MESSAGE, to=LANDLINE),
        (LANDLINE, "7946"),
        frozenset({Status.SENDING}),
        lambda: json.dumps(
            {k: v for k, v in fake.requests[-1].form.items() if k in FORM_FIELDS}
        ).encode(),
    )

    async def stop() -> None:
        await fake.__aexit__(None, None, None)

    return case, stop


async def spool(tmp: Path, engine: AsyncEngine) -> tuple[Case, Callable[[], Awaitable[None]]]:
    spooled = Spool(engine, tmp / "spool")
    case = Case(
        SpoolingLetterChannel(spooled),
        LETTER_MESSAGE,
        dataclasses.replace(LETTER_MESSAGE, notification_id="n-other", address=NOWHERE),
        ("Contract Street", "Contract Resident"),
        frozenset({Status.CREATED}),
        lambda: spooled.pdf_path("n-contract").read_bytes(),
    )
    return case, _nothing


def _notify(kind: str) -> Factory:
    """A Notify adapter on the fake; the fake refuses ``unreachable`` as Notify does."""

    async def factory(tmp: Path, engine: AsyncEngine) -> tuple[Case, Callable[[], Awaitable[None]]]:
        fake = FakeNotify()
        await fake.__aenter__()
        account = Account(
            ApiKey.parse(API_KEY, "sdc"),
            email_template_id=EMAIL_TEMPLATE,
            sms_template_id=SMS_TEMPLATE,
        )
        client = NotifyClient({"sdc": account}, base_url=fake.base_url, timeout=5.0)
        channel: Channel
        if kind == "email":
            fake.refuse(REFUSED_EMAIL)
            channel = NotifyEmailChannel(client)
            case = Case(
                channel,
                EMAIL_MESSAGE,
                dataclasses.replace(EMAIL_MESSAGE, to=REFUSED_EMAIL),
                (REFUSED_EMAIL, "refused.resident"),
                frozenset({Status.SENDING}),
                lambda: json.dumps(fake.requests[-1]["payload"]).encode(),
            )
        elif kind == "sms":
            case = Case(
                NotifySmsChannel(client),
                SMS_MESSAGE,
                dataclasses.replace(SMS_MESSAGE, to=LANDLINE),
                (LANDLINE, "7946"),
                frozenset({Status.SENDING}),
                lambda: json.dumps(fake.requests[-1]["payload"]).encode(),
            )
        else:
            case = Case(
                NotifyLetterChannel(client),
                LETTER_MESSAGE,
                dataclasses.replace(LETTER_MESSAGE, address=NOWHERE),
                ("Contract Street", "Contract Resident"),
                frozenset({Status.SENDING}),
                lambda: base64.b64decode(fake.requests[-1]["payload"]["content"]),
            )

        async def stop() -> None:
            await fake.__aexit__(None, None, None)

        return case, stop

    return factory


async def _nothing() -> None:
    return None


ADAPTERS: dict[str, Factory] = {
    "email-outbox": email_outbox,
    "sms-outbox": sms_outbox,
    "letter-outbox": letter_outbox,
    "smtp": smtp,
    "twilio": twilio,
    "letter-spool": spool,
    "notify-email": _notify("email"),
    "notify-sms": _notify("sms"),
    "notify-letter": _notify("letter"),
}
OTHER_KIND: dict[type, Message] = {
    EmailMessage: SMS_MESSAGE,
    SmsMessage: LETTER_MESSAGE,
    LetterMessage: EMAIL_MESSAGE,
}


@pytest.fixture(params=sorted(ADAPTERS))
async def case(
    request: pytest.FixtureRequest, tmp_path: Path, engine: AsyncEngine
) -> AsyncIterator[Case]:
    made, stop = await ADAPTERS[request.param](tmp_path, engine)
    try:
        yield made
    finally:
        await made.channel.aclose()
        await stop()


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The contract needs a store only for the spool; SQLite is enough here."""
    return f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}"


async def test_adapter_has_a_name(case: Case) -> None:
    """Every adapter names itself (for logs and metrics)."""
    assert isinstance(case.channel.name, str) and case.channel.name


async def test_adapter_takes_its_kind_and_returns_a_receipt(case: Case) -> None:
    """Its kind of message is taken and answered with a receipt in an accepting status."""
    receipt = await case.channel.send(case.good)
    assert receipt.status in case.accepted


async def test_receipt_carries_the_exact_bytes_handed_over(case: Case) -> None:
    """The receipt's content is what reached the far end (the evidence of service for a
    statutory notice is taken from it)."""
    receipt = await case.channel.send(case.good)
    assert receipt.content is not None
    far_end = case.handed_over()
    if far_end.startswith(b"{"):  # a JSON document: the same fields, in any order
        assert json.loads(receipt.content) == json.loads(far_end)
    else:
        assert receipt.content.replace(b"\r\n", b"\n") == far_end.replace(b"\r\n", b"\n")


async def test_adapter_refuses_another_kind_as_a_wiring_bug(case: Case) -> None:
    """A message of another kind is a TypeError, never a delivery failure."""
    with pytest.raises(TypeError, match="cannot send"):
        await case.channel.send(OTHER_KIND[type(case.good)])


async def test_unreachable_recipient_is_permanent_and_named_nowhere(
    case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    """A recipient the adapter can never reach is a PermanentFailure; neither its text nor any
    log line (structlog or a library's stdlib logging; the fake server's own ``mail.log`` aside)
    holds any part of the recipient."""
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as logs, pytest.raises(PermanentFailure) as failure:
        await case.channel.send(case.unreachable)
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.log")]
    seen = " ".join([str(failure.value), repr(failure.value), repr(logs), *ours])
    for secret in case.secrets:
        assert secret not in seen
