"""Reading the service's own Prometheus registry in tests."""

from __future__ import annotations

from notifier.metrics import REGISTRY
from notifier.model import Status


def counted(channel: str, status: Status) -> float:
    """``notifier_notifications_total`` for one channel and status, so far in this process."""
    value = REGISTRY.get_sample_value(
        "notifier_notifications_total", {"channel": channel, "status": str(status)}
    )
    return value or 0.0
