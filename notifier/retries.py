"""The retry policy: how long to wait before each retry, and how many attempts an event gets.

One counter decides: the event's attempt number, carried by the work queue in the
``x-notifier-attempt`` header (the times the event went back through a delay queue after a
failure; waits for quiet hours do not count). The processing shell and the worker's crash path ask
the same policy, so a delivery failure and a crash share one budget.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff ``delays`` in seconds (the last one repeats) and the most attempts an event gets."""

    delays: tuple[float, ...]
    max_attempts: int

    def __post_init__(self) -> None:
        if not self.delays or any(d <= 0 for d in self.delays):
            raise ValueError("retry delays must be a non-empty list of positive durations")
        if self.max_attempts < 1:
            raise ValueError("at least one attempt is needed")

    def delay(self, attempt: int) -> float | None:
        """Seconds to wait before retrying an event whose attempt number ``attempt`` (0 for the
        first) just failed; None when that was its last attempt."""
        if attempt + 1 >= self.max_attempts:
            return None
        return self.delays[min(attempt, len(self.delays) - 1)]
