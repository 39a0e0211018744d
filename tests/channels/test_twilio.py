"""The Twilio SMS channel against a real HTTP fake of the Messages API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import traceback
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from twilio.request_validator import RequestValidator

from notifier.channels.base import Channel
from notifier.channels.throttle import TokenBucket
from notifier.channels.twilio import ERRORS, STATUS_CALLBACK_PATH, TwilioChannel
from notifier.councils import load_councils
from notifier.errors import (
    ConfigurationError,
    DeliveryFailure,
    OptedOut,
    PermanentFailure,
    TechnicalFailure,
)
from notifier.messages import EmailMessage, SmsMessage
from notifier.model import Receipt, Status
from notifier.settings import load_settings
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

COUNCIL = load_councils()["sdc"]
CALLBACK = "https://notify.example.org/webhooks/twilio/status"
SERVICE_SID = "MG" + "fedcba9876543210" * 2


def sms(
    to: str = "07700 900123",
    body: str = "Your planning application has arrived.",
    fragments: int = 1,
) -> SmsMessage:
    return SmsMessage(
        notification_id="n-1",
        council=COUNCIL,
        event_type="planning.application.received",
        to=to,
        body=body,
        fragments=fragments,
    )


def make_channel(fake: FakeTwilio, **overrides: object) -> TwilioChannel:
    options: dict[str, object] = {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "sender": "StratfordDC",
        "base_url": fake.base_url,
        "status_callback_url": CALLBACK,
        "timeout": 5.0,
        "throttle": None,
        "allow_fiction_range": True,
    }
    options.update(overrides)
    return TwilioChannel(**options)  # type: ignore[arg-type]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        yield fake


@pytest.fixture
async def channel(fake: FakeTwilio) -> AsyncIterator[TwilioChannel]:
    channel = make_channel(fake)
    yield channel
    await channel.aclose()


async def test_success_is_a_valid_messages_api_request(
    fake: FakeTwilio, channel: TwilioChannel
) -> None:
    """A send is one authenticated form POST to Messages.json with To in E.164, From, Body and
    StatusCallback, and returns a ``sending`` receipt carrying the Message SID."""
    receipt = await channel.send(sms(body="Your application 24/01234/FUL has arrived."))

    [request] = fake.requests
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.basic_auth == (ACCOUNT_SID, AUTH_TOKEN)
    assert request.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert request.headers["Accept"] == "application/json"
    assert request.form == {
        "To": "+447700900123",
        "From": "StratfordDC",
        "Body": "Your application 24/01234/FUL has arrived.",
        "StatusCallback": CALLBACK + "?notification=n-1",
    }
    assert receipt == Receipt(Status.SENDING, provider_ref=receipt.provider_ref, fragments=1)
    assert re.fullmatch(r"SM[0-9a-f]{32}", receipt.provider_ref or "")
    assert receipt.provider_ref in fake.messages


async def test_the_form_reaches_twilio_exactly_as_given(fake: FakeTwilio) -> None:
    """Characters the form encoding must escape (``&``, ``=``, ``+``, ``%``, a newline, the
    curly apostrophe and the pound sign) and a callback URL with a query of its own arrive as
    they were sent."""
    body = "Fees & charges: 100% = £5 + VAT\nIt’s due on 1/2."
    channel = make_channel(fake, status_callback_url=CALLBACK + "?council=sdc&v=1")
    try:
        await channel.send(sms(body=body))
    finally:
        await channel.aclose()
    [request] = fake.requests
    assert request.form["Body"] == body
    assert request.form["StatusCallback"] == CALLBACK + "?council=sdc&v=1&notification=n-1"


async def test_messages_share_one_session_and_its_kept_alive_connections(
    fake: FakeTwilio, channel: TwilioChannel
) -> None:
    """One message after another go on one TCP connection; eight at a time open at most eight,
    which the next eight use again."""
    for _ in range(10):
        await channel.send(sms())
    assert len({r.peer for r in fake.requests}) == 1
    for _ in range(2):
        await asyncio.gather(*(channel.send(sms()) for _ in range(8)))
    assert len(fake.requests) == 26
    assert len({r.peer for r in fake.requests}) <= 8


async def test_messaging_service_sid_is_sent_instead_of_from(fake: FakeTwilio) -> None:
    """A Messaging Service sender goes as MessagingServiceSid, with no From."""
    channel = make_channel(fake, sender=SERVICE_SID, status_callback_url=None)
    try:
        await channel.send(sms())
    finally:
        await channel.aclose()
    [request] = fake.requests
    assert request.form["MessagingServiceSid"] == SERVICE_SID
    assert "From" not in request.form
    assert "StatusCallback" not in request.form


async def test_without_a_sender_the_council_sender_is_used(fake: FakeTwilio) -> None:
    """With no configured sender each message goes from its council's sender id."""
    channel = make_channel(fake, sender=None)
    try:
        await channel.send(sms())
    finally:
        await channel.aclose()
    assert fake.requests[0].form["From"] == COUNCIL.sms_sender


def test_channel_satisfies_the_protocol(fake: FakeTwilio) -> None:
    """The adapter is the ``sms`` Channel."""
    channel: Channel = make_channel(fake)
    assert channel.name == "sms"


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"sender": "INFO"}, "NOTIFIER_TWILIO_FROM"),
        ({"sender": "Stratford-on-Avon"}, "NOTIFIER_TWILIO_FROM"),
        ({"account_sid": "AC123"}, "NOTIFIER_TWILIO_ACCOUNT_SID"),
        ({"auth_token": ""}, "NOTIFIER_TWILIO_AUTH_TOKEN"),
        ({"timeout": 0}, "NOTIFIER_TWILIO_TIMEOUT"),
    ],
)
def test_bad_configuration_fails_at_construction(
    fake: FakeTwilio, overrides: dict[str, object], variable: str
) -> None:
    """An unusable sender, account SID, token or timeout is refused naming the variable."""
    with pytest.raises(ConfigurationError, match=variable):
        make_channel(fake, **overrides)


async def test_from_settings_wires_the_channel(fake: FakeTwilio) -> None:
    """Settings give the base URL, credentials, sender and the public callback URL."""
    settings = load_settings(
        sms_provider="twilio",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from="WarwickDC",
        twilio_base_url=fake.base_url,
        public_url="https://notify.example.org",
        sms_allow_fiction_range=True,
    )
    channel = TwilioChannel.from_settings(
        settings.sms, public_base_url=settings.http.public_base_url
    )
    try:
        await channel.send(sms())
    finally:
        await channel.aclose()
    form = fake.requests[0].form
    assert form["From"] == "WarwickDC"
    assert form["StatusCallback"] == (
        "https://notify.example.org" + STATUS_CALLBACK_PATH + "?notification=n-1"
    )


# (HTTP status, Twilio code or None for a bare error page) -> (failure type, code, retryable)
ERROR_ROWS = [
    (400, 21211, PermanentFailure, "twilio-21211", False),
    (400, 21614, PermanentFailure, "twilio-21614", False),
    (400, 21635, PermanentFailure, "twilio-21635", False),
    (400, 21610, OptedOut, "opted-out", False),
    (400, 21602, PermanentFailure, "twilio-21602", False),
    (400, 21617, PermanentFailure, "twilio-21617", False),
    (400, 21612, PermanentFailure, "twilio-21612", False),
    (429, 20429, TechnicalFailure, "twilio-20429", True),
    (429, None, TechnicalFailure, "http-429", True),
    (400, 21611, TechnicalFailure, "twilio-21611", True),
    (500, None, TechnicalFailure, "http-500", True),
    (502, None, TechnicalFailure, "http-502", True),
    (503, None, TechnicalFailure, "http-503", True),
    (500, 20500, TechnicalFailure, "twilio-20500", True),
    (401, 20003, TechnicalFailure, "twilio-20003", False),
    (404, 20404, TechnicalFailure, "twilio-20404", False),
    (400, 21603, TechnicalFailure, "twilio-21603", False),
    (400, 21606, TechnicalFailure, "twilio-21606", False),
    (400, 21212, TechnicalFailure, "twilio-21212", False),
    (400, 21401, TechnicalFailure, "twilio-21401", False),
    (400, 21408, TechnicalFailure, "twilio-21408", False),
    (400, 21699, TechnicalFailure, "twilio-21699", False),
    (418, None, TechnicalFailure, "http-418", False),
]


@pytest.mark.parametrize(
    ("status", "code", "kind", "failure_code", "retryable"),
    ERROR_ROWS,
    ids=[f"{row[0]}-{row[1]}" for row in ERROR_ROWS],
)
async def test_error_response_maps_to_failure(
    fake: FakeTwilio,
    channel: TwilioChannel,
    status: int,
    code: int | None,
    kind: type[DeliveryFailure],
    failure_code: str,
    retryable: bool,
) -> None:
    """Each Twilio error maps to the failure kind, code and retryability of sms.md §9."""
    fake.fail_next(status=status, code=code)
    with pytest.raises(DeliveryFailure) as caught:
        await channel.send(sms())
    assert type(caught.value) is kind
    assert caught.value.code == failure_code
    assert caught.value.retryable is retryable


def test_every_table_entry_has_an_error_row() -> None:
    """No row of the error table goes untested."""
    tested_codes = {row[1] for row in ERROR_ROWS}
    assert {key for key in ERRORS if isinstance(key, int)} <= tested_codes


async def test_wrong_credentials_are_a_non_retryable_technical_failure(fake: FakeTwilio) -> None:
    """Twilio's real 401/20003 for a bad token is a configuration problem, not worth retrying."""
    channel = make_channel(fake, auth_token="not-the-token")
    try:
        with pytest.raises(TechnicalFailure) as caught:
            await channel.send(sms())
    finally:
        await channel.aclose()
    assert (caught.value.code, caught.value.retryable) == ("twilio-20003", False)


async def test_retryable_429_then_success(fake: FakeTwilio, channel: TwilioChannel) -> None:
    """After a 429 the same message can be sent again and succeeds."""
    fake.fail_next(status=429, code=20429)
    with pytest.raises(TechnicalFailure) as caught:
        await channel.send(sms())
    assert caught.value.retryable
    receipt = await channel.send(sms())
    assert receipt.status is Status.SENDING
    assert len(fake.requests) == 2


async def test_invalid_number_is_permanent_and_never_sent(
    fake: FakeTwilio, channel: TwilioChannel
) -> None:
    """A number that is not a UK mobile fails permanently before any request."""
    with pytest.raises(PermanentFailure) as caught:
        await channel.send(sms(to="020 7946 0000"))
    assert (caught.value.code, caught.value.detail) == ("invalid-mobile", "not-a-uk-mobile")
    assert fake.requests == []


async def test_drama_range_is_refused_in_production_mode(fake: FakeTwilio) -> None:
    """Without the fiction-range flag, 07700 900xxx numbers are invalid."""
    channel = make_channel(fake, allow_fiction_range=False)
    with pytest.raises(PermanentFailure, match="invalid-number"):
        await channel.send(sms(to="07700 900123"))
    assert fake.requests == []


async def test_no_response_is_a_retryable_timeout(fake: FakeTwilio) -> None:
    """A Twilio that accepts the connection but never answers times out as retryable."""
    fake.hang_next()
    channel = make_channel(fake, timeout=0.2)
    try:
        with pytest.raises(TechnicalFailure) as caught:
            await channel.send(sms())
    finally:
        await channel.aclose()
    assert (caught.value.code, caught.value.retryable) == ("timeout", True)


async def test_connection_refused_is_a_retryable_network_error() -> None:
    """Nobody listening on the port is a retryable network error."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = TwilioChannel(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        sender="StratfordDC",
        base_url=f"http://127.0.0.1:{port}",
        allow_fiction_range=True,
    )
    try:
        with pytest.raises(TechnicalFailure) as caught:
            await channel.send(sms())
    finally:
        await channel.aclose()
    assert (caught.value.code, caught.value.retryable) == ("network-error", True)


async def test_send_waits_for_the_throttle_with_its_fragments(fake: FakeTwilio) -> None:
    """Nothing is posted while the throttle holds the message, which costs its fragment count."""
    waiting, release = asyncio.Event(), asyncio.Event()
    asked: list[float] = []

    async def held(seconds: float) -> None:
        asked.append(seconds)
        waiting.set()
        await release.wait()

    throttle = TokenBucket(rate=1, capacity=1, clock=lambda: 0.0, sleep=held)
    channel = make_channel(fake, throttle=throttle)
    try:
        sending = asyncio.create_task(channel.send(sms(fragments=3)))
        await waiting.wait()
        assert asked == [2.0]
        assert fake.requests == []
        release.set()
        receipt = await sending
    finally:
        await channel.aclose()
    assert receipt.fragments == 3
    assert len(fake.requests) == 1


async def test_other_message_types_are_refused(channel: TwilioChannel) -> None:
    """Handing the SMS channel an email is a programming error."""
    email = EmailMessage(
        notification_id="n-1",
        council=COUNCIL,
        event_type="x.y.z",
        to="a@example.org",
        subject="s",
        text="t",
        html="<p>t</p>",
    )
    with pytest.raises(TypeError):
        await channel.send(email)


async def test_status_callback_helper_signs_like_twilio(
    fake: FakeTwilio, channel: TwilioChannel
) -> None:
    """The fake's callbacks carry an X-Twilio-Signature that twilio's validator accepts."""
    receipt = await channel.send(sms())
    received: list[tuple[dict[str, str], str]] = []

    async def hook(request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        received.append((form, request.headers["X-Twilio-Signature"]))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post(STATUS_CALLBACK_PATH, hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}{STATUS_CALLBACK_PATH}"
        assert receipt.provider_ref is not None
        response = await fake.send_status_callback(
            url, receipt.provider_ref, "undelivered", error_code=30003
        )
    finally:
        await runner.cleanup()
    assert response.status_code == 204
    [(form, signature)] = received
    assert RequestValidator(AUTH_TOKEN).validate(url, form, signature)
    assert not RequestValidator("another-token").validate(url, form, signature)
    assert form["MessageSid"] == receipt.provider_ref
    assert (form["MessageStatus"], form["ErrorCode"], form["To"]) == (
        "undelivered",
        "30003",
        "+447700900123",
    )


DISTINCTIVE_NUMBER = "07700 900987"
DISTINCTIVE_BODY = "Your xyzzy-4242 reference is ready"


def _traces(error: BaseException) -> str:
    return "\n".join(
        [str(error), repr(error), repr(error.args), "".join(traceback.format_exception(error))]
    )


async def test_no_number_or_body_in_logs_or_exceptions(
    fake: FakeTwilio,
    channel: TwilioChannel,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A distinctive number and body reach no log line, no output and no exception text, even
    when Twilio's own error message quotes the number."""
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    await channel.send(sms(to=DISTINCTIVE_NUMBER, body=DISTINCTIVE_BODY))
    fake.fail_for("+447700900987", status=400, code=21211)
    for to in [DISTINCTIVE_NUMBER, DISTINCTIVE_NUMBER + "1", "+44 " + DISTINCTIVE_NUMBER + "x"]:
        with pytest.raises(DeliveryFailure) as caught:
            await channel.send(sms(to=to, body=DISTINCTIVE_BODY))
        errors.append(caught.value)
    fake.fail_for("+447700900987", status=503)
    with pytest.raises(DeliveryFailure) as caught:
        await channel.send(sms(to=DISTINCTIVE_NUMBER, body=DISTINCTIVE_BODY))
    errors.append(caught.value)

    assert [e.code for e in errors if isinstance(e, DeliveryFailure)] == [
        "twilio-21211",
        "invalid-mobile",
        "invalid-mobile",
        "http-503",
    ]
    assert len(fake.requests) == 3  # the twilio path really ran each time
    # The SDK's transport formats no log lines of its own (channels/twilio.py, _HttpClient):
    # even at DEBUG there is none to leak.
    assert [r.name for r in caplog.records if r.name.startswith("twilio")] == []
    output = capsys.readouterr()
    haystacks = [caplog.text, output.out, output.err, *map(_traces, errors)]
    for needle in ["900987", "7700 900", "xyzzy", "4242"]:
        for haystack in haystacks:
            assert needle not in haystack
