"""The retry policy: one counter, the delays in order, the last repeated, then no more."""

from __future__ import annotations

import pytest

from notifier.retries import RetryPolicy

POLICY = RetryPolicy((30.0, 300.0, 1800.0), max_attempts=5)


@pytest.mark.parametrize(
    ("attempt", "delay"),
    [(0, 30.0), (1, 300.0), (2, 1800.0), (3, 1800.0), (4, None), (9, None)],
)
def test_delay_for_each_attempt(attempt: int, delay: float | None) -> None:
    """Attempt n waits the n-th delay (the last repeats); the fifth attempt of five is the last."""
    assert POLICY.delay(attempt) == delay


def test_one_attempt_means_no_retry() -> None:
    """With max_attempts=1 the first failure is final."""
    assert RetryPolicy((30.0,), max_attempts=1).delay(0) is None


@pytest.mark.parametrize(("delays", "max_attempts"), [((), 3), ((30.0, 0.0), 3), ((30.0,), 0)])
def test_unworkable_policies_are_refused(delays: tuple[float, ...], max_attempts: int) -> None:
    """No delays, a zero delay, or no attempts at all cannot work and are refused at once."""
    with pytest.raises(ValueError, match=r"retry delays|attempt"):
        RetryPolicy(delays, max_attempts)
