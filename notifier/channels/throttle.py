"""A client-side token bucket that keeps sending at or below a provider's rate (Twilio's
messages-per-second limits)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    """Hands out ``rate`` tokens a second, up to ``capacity`` saved for a burst, first come first
    served.

    A request larger than the bucket is still served: it waits until the missing tokens have
    accrued, leaving the bucket empty. ``clock`` and ``sleep`` are injectable so tests need not
    wait.
    """

    def __init__(
        self,
        rate: float,
        capacity: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._sleep = sleep
        self._tokens = capacity
        self._updated = clock()
        # asyncio.Lock wakes waiters in arrival order, which makes the bucket FIFO: a large request
        # is never starved by a stream of small ones behind it.
        self._lock = asyncio.Lock()

    @property
    def tokens(self) -> float:
        """The tokens available now (negative while a caller is waiting off a deficit)."""
        return self._level(self._clock())

    def _level(self, now: float) -> float:
        return min(self.capacity, self._tokens + (now - self._updated) * self.rate)

    async def acquire(self, tokens: float = 1) -> None:
        """Wait until ``tokens`` are available and take them."""
        if tokens < 0:
            raise ValueError("cannot acquire a negative number of tokens")
        async with self._lock:
            now = self._clock()
            self._tokens = self._level(now) - tokens
            self._updated = now
            if self._tokens >= 0:
                return
            try:
                # Sleep off exactly the deficit; the next caller's refill counts from before the
                # sleep, so any oversleep is credited back rather than lost.
                await self._sleep(-self._tokens / self.rate)
            except BaseException:
                self._tokens += tokens
                raise
