"""The Notify channels against a fake of Notify's REST API on loopback: the JWT, the payloads,
the Markdown, and the error table (one test per row)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import structlog

from notifier.channels.notify import (
    ERRORS,
    Account,
    ApiKey,
    NotifyClient,
    NotifyEmailChannel,
    NotifyLetterChannel,
    NotifySmsChannel,
    notify_markdown,
    seconds_to_midnight,
)
from notifier.councils import load_councils
from notifier.errors import ConfigurationError, DeliveryFailure, PermanentFailure, TechnicalFailure
from notifier.messages import EmailMessage, LetterMessage, Paragraph, SmsMessage
from notifier.model import Status
from tests.fakes.notify import API_KEY, EMAIL_TEMPLATE, SECRET, SMS_TEMPLATE, FakeNotify

COUNCIL = load_councils()["sdc"]
MOBILE = "+447723456789"
EMAIL = EmailMessage(
    notification_id="n-email",
    council=COUNCIL,
    event_type="planning.application.received",
    to="notify.resident@example.org",
    subject="We have your application",
    text="We have it\n" + "=" * 65 + "\n\nWhat next\n" + "-" * 65 + "\n\n\u2022 one\n\u2022 two\n",
    html="<p>x</p>",
)
SMS = SmsMessage("n-sms", COUNCIL, "planning.application.received", MOBILE, "Hello.", 1)
LETTER = LetterMessage(
    notification_id="n-letter",
    council=COUNCIL,
    event_type="planning.application.received",
    address=("Flat 2", "10 High Street", "Stratford-upon-Avon", "CV37 6AA"),
    name="Alex Smith",
    title="We have your application",
    reference="24/01234/FUL",
    blocks=(Paragraph("We have it."),),
    date=datetime(2027, 1, 4).date(),
    postage="first",
)


def account(**ids: str) -> dict[str, Account]:
    key = ApiKey.parse(API_KEY, "sdc")
    return {
        "sdc": Account(key, email_template_id=EMAIL_TEMPLATE, sms_template_id=SMS_TEMPLATE, **ids)
    }


@pytest.fixture
async def fake() -> AsyncIterator[FakeNotify]:
    async with FakeNotify() as fake:
        yield fake


@pytest.fixture
async def client(fake: FakeNotify) -> AsyncIterator[NotifyClient]:
    client = NotifyClient(
        account(email_reply_to_id="reply-1", sms_sender_id="sender-1"),
        base_url=fake.base_url,
        timeout=5,
    )
    yield client
    await client.aclose()


async def test_email_goes_through_the_pass_through_template(
    fake: FakeNotify, client: NotifyClient
) -> None:
    """An email is the council's template, our subject and Markdown body, our id as the
    reference and the council's reply-to id; the receipt is sending with Notify's id."""
    receipt = await NotifyEmailChannel(client).send(EMAIL)
    sent = fake.sent[str(receipt.provider_ref)]
    assert receipt.status is Status.SENDING
    assert sent.payload["template_id"] == EMAIL_TEMPLATE
    assert sent.payload["reference"] == "n-email"
    assert sent.payload["email_reply_to_id"] == "reply-1"
    assert sent.payload["personalisation"]["subject"] == "We have your application"
    assert sent.payload["personalisation"]["body"].startswith("# We have it\n\n## What next")


async def test_sms_goes_with_the_council_sender_id(fake: FakeNotify, client: NotifyClient) -> None:
    """A text is the council's template with our body, in E.164, with its sender id."""
    receipt = await NotifySmsChannel(client).send(SMS)
    sent = fake.sent[str(receipt.provider_ref)]
    assert sent.payload == {
        "phone_number": MOBILE,
        "template_id": SMS_TEMPLATE,
        "personalisation": {"body": "Hello."},
        "reference": "n-sms",
        "sms_sender_id": "sender-1",
    }


async def test_letter_goes_as_a_precompiled_pdf_with_its_postage(
    fake: FakeNotify, client: NotifyClient
) -> None:
    """A letter is our PDF in base64, our id as reference, first class kept."""
    receipt = await NotifyLetterChannel(client).send(LETTER)
    sent = fake.sent[str(receipt.provider_ref)]
    assert sent.payload["reference"] == "n-letter" and sent.payload["postage"] == "first"
    assert sent.payload["content"].startswith("JVBERi")  # "%PDF" in base64


async def test_a_wrong_secret_is_refused_with_notify_s_auth_error(fake: FakeNotify) -> None:
    """The fake checks the JWT: a key with another secret gets 403, a non-retryable failure."""
    wrong = API_KEY.replace(SECRET, "00000000-0000-4000-8000-000000000000")
    key = ApiKey.parse(wrong, "sdc")
    client = NotifyClient(
        {"sdc": Account(key, sms_template_id=SMS_TEMPLATE)}, base_url=fake.base_url
    )
    try:
        with pytest.raises(TechnicalFailure) as failure:
            await NotifySmsChannel(client).send(SMS)
    finally:
        await client.aclose()
    assert failure.value.code == "notify-auth" and not failure.value.retryable
    assert fake.refused_tokens == 1 and not fake.sent


# Each row of the table, as the fake answers it: (fake's error, our class, code, retryable).
ROWS = [
    ("400-recipient", PermanentFailure, "notify-invalid-recipient", False),
    ("400-email", PermanentFailure, "notify-invalid-recipient", False),
    ("400", TechnicalFailure, "notify-bad-request", False),
    ("403", TechnicalFailure, "notify-auth", False),
    ("429-RateLimitError", TechnicalFailure, "notify-rate-limit", True),
    ("429-TooManyRequestsError", TechnicalFailure, "notify-daily-limit", True),
    ("500", TechnicalFailure, "notify-5xx", True),
]


@pytest.mark.parametrize(("row", "kind", "code", "retryable"), ROWS)
async def test_each_notify_error_maps_to_one_failure(
    fake: FakeNotify,
    client: NotifyClient,
    row: str,
    kind: type[DeliveryFailure],
    code: str,
    retryable: bool,
) -> None:
    """Every error Notify answers is one failure type from the one table."""
    fake.fail_next(row)
    with pytest.raises(DeliveryFailure) as failure:
        await NotifySmsChannel(client).send(SMS)
    assert type(failure.value) is kind
    assert (failure.value.code, failure.value.retryable) == (code, retryable)
    assert MOBILE not in str(failure.value) and "UK mobile" not in str(failure.value)


def test_every_row_of_the_table_has_a_test() -> None:
    """The table and the tests above cover the same rows (the 4xx/429 fallbacks aside)."""
    tested = {code for _, _, code, _ in ROWS}
    assert {o.code for o in ERRORS.values()} - tested == {"notify-4xx"}


async def test_daily_limit_waits_for_midnight_utc(fake: FakeNotify) -> None:
    """A daily limit is retried no sooner than a minute past the next midnight UTC."""
    noon = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
    client = NotifyClient(account(), base_url=fake.base_url, clock=lambda: noon)
    fake.fail_next("429-TooManyRequestsError")
    try:
        with pytest.raises(TechnicalFailure) as failure:
            await NotifySmsChannel(client).send(SMS)
    finally:
        await client.aclose()
    assert failure.value.retry_after == 12 * 3600 + 60
    assert seconds_to_midnight(datetime(2027, 1, 4, 23, 59, tzinfo=UTC)) == 120


async def test_a_council_without_a_key_is_a_technical_failure(client: NotifyClient) -> None:
    """A council with no Notify account is ours to fix, never retried."""
    other = dataclasses.replace(SMS, council=load_councils()["wdc"])
    with pytest.raises(TechnicalFailure) as failure:
        await NotifySmsChannel(client).send(other)
    assert failure.value.code == "notify-no-account" and not failure.value.retryable


def test_a_malformed_key_names_the_variable_not_the_key() -> None:
    """A key that is not name-uuid-uuid fails at start-up without printing it."""
    with pytest.raises(ConfigurationError, match=r"NOTIFIER_NOTIFY_API_KEYS\[sdc\]") as error:
        ApiKey.parse("secret-looking-thing", "sdc")
    assert "secret-looking-thing" not in str(error.value)


async def test_the_api_key_never_reaches_a_log_an_exception_or_a_repr(
    fake: FakeNotify, client: NotifyClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither the key nor its secret appears in a log line, a failure or the account's repr."""
    caplog.set_level(logging.DEBUG)
    fake.fail_next("403")
    fake.fail_next("500")
    seen: list[str] = [repr(client.accounts)]
    with structlog.testing.capture_logs() as logs:
        for _ in range(2):
            with pytest.raises(DeliveryFailure) as failure:
                await NotifySmsChannel(client).send(SMS)
            seen += [str(failure.value), repr(failure.value)]
        await NotifySmsChannel(client).send(SMS)
    seen += [repr(logs), *(r.getMessage() for r in caplog.records)]
    text = " ".join(seen)
    assert SECRET not in text and API_KEY not in text


def test_markdown_keeps_headings_bullets_numbers_and_urls() -> None:
    """Underlined headings become # and ##, bullets *, numbered lists and URLs stay."""
    text = "Title\n=====\n\nPart\n-----\n\n\u2022 a\n\u2022 b\n\n1. one\n\nSee https://x.gov.uk"
    assert notify_markdown(text) == (
        "# Title\n\n## Part\n\n* a\n* b\n\n1. one\n\nSee https://x.gov.uk"
    )


async def test_a_replay_adopts_notify_s_copy_by_reference(
    fake: FakeNotify, client: NotifyClient
) -> None:
    """Asked about a message it has (by our notification id as reference), Notify's copy is
    adopted with its id and status; about one it never received, nothing; and when Notify
    cannot answer, a technical failure (retry later, never guess)."""
    channel = NotifySmsChannel(client)
    receipt = await channel.send(SMS)
    fake.set_status(str(receipt.provider_ref), "delivered")
    since = datetime(2026, 12, 1, tzinfo=UTC)
    found = await channel.find(SMS, since)
    assert found is not None
    assert (found.status, found.provider_ref) == (Status.DELIVERED, receipt.provider_ref)
    assert await channel.find(dataclasses.replace(SMS, notification_id="n-never"), since) is None
    unreachable = NotifyClient(account(), base_url="http://127.0.0.1:9", timeout=5)
    try:
        with pytest.raises(TechnicalFailure):
            await NotifySmsChannel(unreachable).find(SMS, since)
    finally:
        await unreachable.aclose()
