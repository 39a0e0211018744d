"""The token bucket that keeps SMS sending at or below the sender's segments per second."""

from __future__ import annotations

import asyncio
import time

import pytest

from notifier.channels.throttle import TokenBucket


class FakeTime:
    """A clock that only moves when the bucket sleeps, recording every sleep it was asked for."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


def bucket(fake: FakeTime, rate: float, capacity: float) -> TokenBucket:
    return TokenBucket(rate, capacity, fake.clock, sleep=fake.sleep)


async def test_burst_up_to_capacity_does_not_wait(fake: FakeTime) -> None:
    """A full bucket serves its whole capacity at once."""
    tokens = bucket(fake, rate=10, capacity=10)
    for _ in range(10):
        await tokens.acquire(1)
    assert fake.sleeps == []


async def test_waits_exactly_the_deficit(fake: FakeTime) -> None:
    """Once empty, a request sleeps exactly missing tokens / rate."""
    tokens = bucket(fake, rate=100, capacity=10)
    await tokens.acquire(10)
    await tokens.acquire(3)
    assert fake.sleeps == [pytest.approx(0.03)]


async def test_idle_time_refills_partially(fake: FakeTime) -> None:
    """Tokens accrue with time, so only the remainder is waited for."""
    tokens = bucket(fake, rate=10, capacity=10)
    await tokens.acquire(10)
    fake.now += 0.5
    await tokens.acquire(7)
    assert fake.sleeps == [pytest.approx(0.2)]


async def test_refill_is_capped_at_capacity(fake: FakeTime) -> None:
    """A long idle period saves no more than the capacity."""
    tokens = bucket(fake, rate=10, capacity=5)
    fake.now += 1000
    await tokens.acquire(5)
    await tokens.acquire(1)
    assert fake.sleeps == [pytest.approx(0.1)]


async def test_request_larger_than_capacity_is_served(fake: FakeTime) -> None:
    """A six-fragment message still goes through a two-token bucket, after the deficit."""
    tokens = bucket(fake, rate=1, capacity=2)
    await tokens.acquire(6)
    await tokens.acquire(1)
    assert fake.sleeps == [pytest.approx(4.0), pytest.approx(1.0)]


async def test_sustained_rate_matches_configuration(fake: FakeTime) -> None:
    """Fifty segments at 100/s with a burst of 10 take (50 - 10) / 100 seconds of clock."""
    tokens = bucket(fake, rate=100, capacity=10)
    await asyncio.gather(*(tokens.acquire(1) for _ in range(50)))
    assert fake.now == pytest.approx(0.4)


async def test_waiters_are_served_first_come_first_served(fake: FakeTime) -> None:
    """A small request never overtakes a larger one that arrived before it."""
    tokens = bucket(fake, rate=1, capacity=1)
    served: list[str] = []

    async def take(name: str, amount: float) -> None:
        await tokens.acquire(amount)
        served.append(name)

    tasks = [
        asyncio.create_task(take(name, amount))
        for name, amount in [("first", 1), ("large", 5), ("small", 1), ("last", 2)]
    ]
    await asyncio.gather(*tasks)
    assert served == ["first", "large", "small", "last"]
    assert fake.sleeps == [pytest.approx(5), pytest.approx(1), pytest.approx(2)]


async def test_cancelled_waiter_gives_its_tokens_back(fake: FakeTime) -> None:
    """A caller cancelled while waiting does not use up the rate for those behind it."""
    blocked = asyncio.Event()
    never = asyncio.Event()

    async def stuck_sleep(seconds: float) -> None:
        blocked.set()
        await never.wait()

    tokens = TokenBucket(1, 2, fake.clock, sleep=stuck_sleep)
    await tokens.acquire(2)
    waiter = asyncio.create_task(tokens.acquire(3))
    await blocked.wait()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert tokens.tokens == pytest.approx(0)


@pytest.mark.parametrize(("rate", "capacity"), [(0, 1), (1, 0), (-1, 1), (1, -5)])
def test_rate_and_capacity_must_be_positive(rate: float, capacity: float) -> None:
    """A bucket that could never hand out tokens is refused at construction."""
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(rate, capacity)


async def test_negative_request_is_refused(fake: FakeTime) -> None:
    """Tokens cannot be returned through acquire."""
    with pytest.raises(ValueError, match="negative"):
        await bucket(fake, rate=1, capacity=1).acquire(-1)


async def test_real_clock_burst_takes_at_least_the_theoretical_time() -> None:
    """With the real clock, 50 segments at 100/s and a burst of 10 take at least 0.4 s."""
    tokens = TokenBucket(rate=100, capacity=10)
    started = time.monotonic()
    await asyncio.gather(*(tokens.acquire(1) for _ in range(50)))
    elapsed = time.monotonic() - started
    assert elapsed >= (50 - 10) / 100 * 0.95
