"""Text messages over Twilio and Notify behind circuit breakers: the breaker's states on an
injected clock, and failover between the real adapters on their loopback fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from notifier.channels.failover import Breaker, FailoverChannel, Policy, State
from notifier.channels.notify import Account, ApiKey, NotifyClient, NotifySmsChannel
from notifier.channels.twilio import TwilioChannel
from notifier.councils import load_councils
from notifier.errors import PermanentFailure, TechnicalFailure
from notifier.messages import Message, SmsMessage
from notifier.metrics import REGISTRY
from notifier.model import Receipt
from tests.fakes.channels import FakeChannel
from tests.fakes.notify import API_KEY, SMS_TEMPLATE, FakeNotify
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

POLICY = Policy(window=60, threshold=0.5, min_requests=5, slow=5, cool_off=30, ramp=60)
COUNCIL = load_councils()["sdc"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def state_of(breaker: Breaker) -> State:
    """The state now (a call, so mypy does not keep an earlier assert's narrowing)."""
    return breaker.state


def sms(n: int, to: str = "+447723456789") -> SmsMessage:
    return SmsMessage(f"n-{n}", COUNCIL, "planning.application.received", to, f"Message {n}.", 1)


def test_technical_failures_over_the_threshold_open_the_breaker() -> None:
    """Five results with half failing open it; it refuses until the cool-off, then lets one
    probe through at a time."""
    clock = Clock()
    breaker = Breaker("sms", "twilio", POLICY, clock)
    for failed in (False, True, False, True, True):
        breaker.record(failed=failed)
    assert breaker.state is State.OPEN and not breaker.allows()
    clock.now += 30
    assert breaker.allows() and state_of(breaker) is State.HALF_OPEN
    assert not breaker.allows()  # one probe at a time


def test_slow_answers_count_as_failures() -> None:
    """Answers slower than ``slow`` open the breaker even when they succeed."""
    breaker = Breaker("sms", "twilio", POLICY, Clock())
    for _ in range(5):
        breaker.record(failed=False, seconds=6)
    assert breaker.state is State.OPEN


def test_old_results_leave_the_window() -> None:
    """Failures older than the window no longer count."""
    clock = Clock()
    breaker = Breaker("sms", "twilio", POLICY, clock)
    for _ in range(4):
        breaker.record(failed=True)
    clock.now += 61
    breaker.record(failed=True)
    assert breaker.state is State.CLOSED


def test_a_good_probe_brings_traffic_back_gradually() -> None:
    """After a good probe the share rises over the ramp, then the breaker closes."""
    clock = Clock()
    breaker = Breaker("sms", "twilio", POLICY, clock)
    for _ in range(5):
        breaker.record(failed=True)
    clock.now += 30
    assert breaker.allows()
    breaker.record(failed=False)
    assert breaker.state is State.RECOVERING
    clock.now += 30  # half-way up the ramp
    allowed = sum(breaker.allows() for _ in range(100))
    assert 45 <= allowed <= 55
    clock.now += 31
    assert breaker.allows() and state_of(breaker) is State.CLOSED
    labels = {"channel": "sms", "provider": "twilio"}
    assert REGISTRY.get_sample_value("notifier_provider_state", labels) == 0


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeTwilio, FakeNotify]]:
    async with FakeTwilio() as twilio, FakeNotify() as notify:
        yield twilio, notify


def failover(
    twilio: FakeTwilio, notify: FakeNotify, clock: Clock
) -> tuple[FailoverChannel, NotifyClient]:
    client = NotifyClient(
        {"sdc": Account(ApiKey.parse(API_KEY, "sdc"), sms_template_id=SMS_TEMPLATE)},
        base_url=notify.base_url,
    )
    first = TwilioChannel(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        sender="StratfordDC",
        base_url=twilio.base_url,
        timeout=5.0,
    )
    channel = FailoverChannel(
        ("twilio", first),
        ("notify", NotifySmsChannel(client)),
        policy=POLICY,
        second_serves=lambda message: message.council.code == "sdc",
        clock=clock,
    )
    return channel, client


async def test_a_bad_number_never_fails_over(fakes: tuple[FakeTwilio, FakeNotify]) -> None:
    """A permanent failure neither moves the message nor counts against the provider."""
    twilio, notify = fakes
    channel, _ = failover(twilio, notify, Clock())
    try:
        for n in range(6):
            with pytest.raises(PermanentFailure):
                await channel.send(sms(n, to="020 7946 0991"))
    finally:
        await channel.aclose()
    assert channel.breakers["twilio"].state is State.CLOSED and not notify.requests


async def test_traffic_moves_to_notify_while_twilio_fails_and_comes_back(
    fakes: tuple[FakeTwilio, FakeNotify],
) -> None:
    """Twilio answers 500 for everything: each message goes on to Notify at once, the breaker
    opens and Twilio sees no more traffic; when Twilio recovers, a probe and the ramp bring the
    traffic back. Every message is delivered exactly once across the two fakes."""
    twilio, notify = fakes
    clock = Clock()
    channel, _ = failover(twilio, notify, clock)
    sent: list[SmsMessage] = []

    async def burst(count: int) -> dict[str, int]:
        before = len(twilio.messages), len(notify.sent), len(twilio.requests)
        for _ in range(count):
            message = sms(len(sent))
            sent.append(message)
            await channel.send(message)
            clock.now += 0.5
        return {
            "twilio": len(twilio.messages) - before[0],
            "notify": len(notify.sent) - before[1],
            "twilio_requests": len(twilio.requests) - before[2],
        }

    try:
        healthy = await burst(10)
        twilio.fail_next(10_000, status=500)
        outage = await burst(20)
        clock.now += 30
        still_down = await burst(5)  # one probe fails, the breaker opens again
        twilio.recover()
        clock.now += 30
        probe = await burst(1)
        clock.now += 30
        ramp = await burst(10)
        clock.now += 60
        back = await burst(10)
    finally:
        await channel.aclose()
    print("healthy", healthy, "outage", outage, "still down", still_down)
    print("probe", probe, "ramp", ramp, "back", back)
    bodies = [r.form["Body"] for r in twilio.messages.values()]
    bodies += [s.payload["personalisation"]["body"] for s in notify.sent.values()]
    print(
        "delivered:",
        len(bodies),
        "of",
        len(sent),
        "twilio",
        len(twilio.messages),
        "notify",
        len(notify.sent),
    )
    assert sorted(bodies) == sorted(m.body for m in sent)  # each exactly once
    assert healthy == {"twilio": 10, "notify": 0, "twilio_requests": 10}
    assert outage["notify"] == 20 and outage["twilio_requests"] == 10  # 10 good, 10 bad: 50%
    assert still_down == {"twilio": 0, "notify": 5, "twilio_requests": 1}
    assert probe["twilio"] == 1
    assert 0 < ramp["twilio"] < 10
    assert back == {"twilio": 10, "notify": 0, "twilio_requests": 10}


async def failing(message: Message) -> Receipt:
    raise TechnicalFailure("http-500", "HTTP 500")


async def test_a_half_open_second_keeps_its_probe_while_the_first_serves() -> None:
    """The second provider's breaker is asked only when the first fails, so its one probe is
    not taken by messages that never go to it."""
    clock = Clock()
    first, second = FakeChannel("sms"), FakeChannel("sms")
    channel = FailoverChannel(("twilio", first), ("notify", second), policy=POLICY, clock=clock)
    for _ in range(5):
        channel.breakers["notify"].record(failed=True)
    clock.now += 30
    for n in range(3):
        await channel.send(sms(n))
    first.handler = failing
    await channel.send(sms(3))
    assert len(first.sent) == 4 and [m.notification_id for m in second.sent] == ["n-3"]
    assert state_of(channel.breakers["notify"]) is State.RECOVERING


async def test_when_every_breaker_refuses_the_preferred_is_tried() -> None:
    """Both providers open: the preferred one is tried all the same, not none."""
    clock = Clock()
    first, second = FakeChannel("sms"), FakeChannel("sms")
    channel = FailoverChannel(("twilio", first), ("notify", second), policy=POLICY, clock=clock)
    for breaker in channel.breakers.values():
        for _ in range(5):
            breaker.record(failed=True)
    await channel.send(sms(0))
    assert len(first.sent) == 1 and not second.sent


async def test_a_council_the_second_does_not_serve_stays_on_the_first() -> None:
    """A council without a Notify key gets the first provider's failure, not Notify."""
    first, second = FakeChannel("sms", failing), FakeChannel("sms")
    channel = FailoverChannel(
        ("twilio", first),
        ("notify", second),
        policy=POLICY,
        second_serves=lambda message: message.council.code == "wdc",
        clock=Clock(),
    )
    with pytest.raises(TechnicalFailure):
        await channel.send(sms(0))
    assert not second.sent
