"""Text messages over two providers: a circuit breaker on each, and failover between them.

Messages go through the preferred provider while its breaker is closed. Each send's result is
recorded in its provider's sliding window; a technical failure, or an answer slower than
``slow`` seconds, counts against it. When at least ``min_requests`` sends in the last ``window``
seconds have a failure rate of ``threshold`` or more, the breaker opens: traffic goes to the other
provider. After ``cool_off`` seconds it is half open: one message at a time probes it. A probe that
succeeds starts the return, its share of traffic rising evenly from 0 to all over ``ramp`` seconds
(a failure rate over the threshold meanwhile opens it again); a probe that fails opens it again.

A technical failure on one provider is retried at once on the other, so a message waits for no
retry ladder while one provider is down. A permanent or temporary failure (a bad number, a phone
switched off) says nothing about the provider: it neither counts against the breaker nor moves
the message. The policy and its knobs are in docs/notify.md ("Text messages over two providers");
the breakers' states are ``notifier_provider_state`` (docs/operations.md) and a log line on each
change. The same idea as GOV.UK Notify's own spreading of texts over its two providers, with a
breaker's explicit states in place of weights.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable
from enum import StrEnum

import structlog

from notifier import metrics
from notifier.channels.base import Channel
from notifier.errors import DeliveryFailure, TechnicalFailure
from notifier.messages import Message
from notifier.model import Receipt

log = structlog.get_logger("notifier.channels.failover")

# A failure after which the message may well have gone (a 2xx that could not be read): counted
# against the provider, but not sent again through the other one.
MAY_HAVE_GONE = frozenset({"invalid-response"})


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"
    RECOVERING = "recovering"


# notifier_provider_state's values (docs/operations.md).
STATE_VALUES = {State.CLOSED: 0, State.OPEN: 1, State.HALF_OPEN: 2, State.RECOVERING: 3}


@dataclasses.dataclass(frozen=True, slots=True)
class Policy:
    """The breaker's knobs (``NOTIFIER_SMS_FAILOVER_*``), in seconds and fractions."""

    window: float = 60.0
    threshold: float = 0.5
    min_requests: int = 5
    slow: float = 5.0
    cool_off: float = 30.0
    ramp: float = 60.0


class Breaker:
    """One provider's circuit breaker; ``clock`` is injectable so tests need not wait."""

    def __init__(
        self,
        channel: str,
        provider: str,
        policy: Policy,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.channel = channel
        self.provider = provider
        self.policy = policy
        self._clock = clock
        self._results: collections.deque[tuple[float, bool]] = collections.deque()
        self._changed = clock()
        self._probing = False
        self._credit = 0.0
        self.state = State.CLOSED
        self._publish()

    def allows(self) -> bool:
        """Whether the next message may go through this provider (a probe, when half open)."""
        now = self._clock()
        if self.state is State.OPEN and now - self._changed >= self.policy.cool_off:
            self._move(State.HALF_OPEN, now)
        if self.state is State.OPEN:
            return False
        if self.state is State.HALF_OPEN:
            if self._probing:
                return False
            self._probing = True
            return True
        if self.state is State.RECOVERING:
            share = self._share(now)
            if share >= 1:
                self._move(State.CLOSED, now)
                return True
            self._credit += share
            if self._credit < 1:
                return False
            self._credit -= 1
        return True

    def record(self, *, failed: bool, seconds: float = 0.0) -> None:
        """One send's result: ``failed`` for a technical failure; slow answers count as one."""
        now = self._clock()
        bad = failed or seconds >= self.policy.slow
        if self.state is State.HALF_OPEN and self._probing:
            self._probing = False
            self._move(State.OPEN if bad else State.RECOVERING, now)
            return
        self._results.append((now, bad))
        while self._results and self._results[0][0] <= now - self.policy.window:
            self._results.popleft()
        if self.state in (State.CLOSED, State.RECOVERING) and self._tripped():
            self._move(State.OPEN, now)

    def release(self) -> None:
        """Give back a probe that ended without a verdict (cancelled, or a bug)."""
        self._probing = False

    def _tripped(self) -> bool:
        if len(self._results) < self.policy.min_requests:
            return False
        failures = sum(1 for _, bad in self._results if bad)
        return failures / len(self._results) >= self.policy.threshold

    def _share(self, now: float) -> float:
        return min(1.0, (now - self._changed) / self.policy.ramp)

    def _move(self, state: State, now: float) -> None:
        log.warning(
            "provider.state",
            channel=self.channel,
            provider=self.provider,
            state=str(state),
            was=str(self.state),
        )
        self.state = state
        self._changed = now
        self._credit = 0.0
        self._probing = False
        self._results.clear()
        self._publish()

    def _publish(self) -> None:
        metrics.PROVIDER_STATE.labels(channel=self.channel, provider=self.provider).set(
            STATE_VALUES[self.state]
        )


class FailoverChannel:
    """A ``Channel`` over a preferred and a second provider. ``second_serves`` says whether the
    second can take a message at all (a council without a Notify key has only the first)."""

    def __init__(
        self,
        first: tuple[str, Channel],
        second: tuple[str, Channel],
        *,
        policy: Policy,
        second_serves: Callable[[Message], bool] = lambda message: True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = first[1].name
        self.providers = (first, second)
        self.breakers = {
            provider: Breaker(self.name, provider, policy, clock) for provider, _ in (first, second)
        }
        self._second_serves = second_serves
        self._clock = clock

    def candidates(self, message: Message) -> list[tuple[str, Channel]]:
        """The providers that could take ``message``, the preferred first."""
        first, second = self.providers
        return [first, second] if self._second_serves(message) else [first]

    async def send(self, message: Message) -> Receipt:
        """Send through the first provider whose breaker lets the message through; a technical
        failure moves it on to the next at once. When no breaker lets it through, the preferred
        provider is tried all the same: better a try than a certain failure."""
        failure: TechnicalFailure | None = None
        tried = False
        for provider, adapter in self.candidates(message):
            # Asked only when needed: a half-open breaker's one probe is not taken in vain.
            if not self.breakers[provider].allows():
                continue
            tried = True
            try:
                return await self._attempt(provider, adapter, message)
            except TechnicalFailure as exc:
                if exc.code in MAY_HAVE_GONE:
                    raise
                failure = exc
                log.info(
                    "provider.failed_over", channel=self.name, provider=provider, code=exc.code
                )
                metrics.FAILOVERS.labels(channel=self.name, provider=provider).inc()
        if not tried:
            provider, adapter = self.providers[0]
            return await self._attempt(provider, adapter, message)
        assert failure is not None
        raise failure

    async def _attempt(self, provider: str, adapter: Channel, message: Message) -> Receipt:
        """One send, its result recorded in the provider's breaker (a permanent or temporary
        failure as a good answer: the provider did its job)."""
        breaker = self.breakers[provider]
        started = self._clock()
        try:
            receipt = await adapter.send(message)
        except TechnicalFailure:
            breaker.record(failed=True)
            raise
        except DeliveryFailure:
            breaker.record(failed=False, seconds=self._clock() - started)
            raise
        except BaseException:
            breaker.release()  # cancelled, or a bug: no verdict on the provider
            raise
        breaker.record(failed=False, seconds=self._clock() - started)
        return receipt

    async def aclose(self) -> None:
        for _, adapter in self.providers:
            await adapter.aclose()
