"""Reading the service's own Prometheus registry in tests."""

from __future__ import annotations

from notifier.metrics import REGISTRY
from notifier.model import Status


def counted(channel: str, status: Status) -> float:
    """``notifier_notifications_total`` for one channel and status, so far in this process,
    summed over councils."""
    return sum(
        sample.value
        for family in REGISTRY.collect()
        if family.name == "notifier_notifications"
        for sample in family.samples
        if sample.name == "notifier_notifications_total"
        and sample.labels.get("channel") == channel
        and sample.labels.get("status") == str(status)
    )
