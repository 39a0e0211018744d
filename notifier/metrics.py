"""Prometheus metrics; label sets are closed (no ids, no personal data)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS = Counter(
    "notifier_events_received_total",
    "Events taken from the work queue, by event type.",
    ["event_type"],
    registry=REGISTRY,
)
PROCESSED = Counter(
    "notifier_events_processed_total",
    "Events settled, by outcome (ack, retry, dead).",
    ["outcome"],
    registry=REGISTRY,
)
NOTIFICATIONS = Counter(
    "notifier_notifications_total",
    "Notification status changes, by channel and status.",
    ["channel", "status"],
    registry=REGISTRY,
)
SEND_SECONDS = Histogram(
    "notifier_send_duration_seconds",
    "Time a provider took to accept one message, by channel.",
    ["channel"],
    registry=REGISTRY,
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RETRIES = Counter(
    "notifier_retries_total",
    "Events sent to a delay queue, by channel and reason.",
    ["channel", "reason"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "notifier_dead_letters_total",
    "Events dead-lettered, by reason.",
    ["reason"],
    registry=REGISTRY,
)
POSSIBLE_DUPLICATES = Counter(
    "notifier_possible_duplicates_total",
    "Messages sent again although an earlier send may have reached the provider (its outcome "
    "was unknown and the provider cannot be asked), by channel.",
    ["channel"],
    registry=REGISTRY,
)
IN_FLIGHT = Gauge(
    "notifier_events_in_flight",
    "Events being processed now.",
    registry=REGISTRY,
)
BROKER_CONNECTED = Gauge(
    "notifier_broker_connected",
    "1 while the worker's broker connection is open.",
    registry=REGISTRY,
)
PROVIDER_STATE = Gauge(
    "notifier_provider_state",
    "Each provider's circuit breaker: 0 closed, 1 open, 2 half open, 3 recovering.",
    ["channel", "provider"],
    registry=REGISTRY,
)
FAILOVERS = Counter(
    "notifier_provider_failovers_total",
    "Messages moved to the other provider after a technical failure, by the provider failing.",
    ["channel", "provider"],
    registry=REGISTRY,
)


EVIDENCE_FAILURES = Counter(
    "notifier_evidence_failures_total",
    "Statutory notices sent whose evidence of service could not be kept.",
    registry=REGISTRY,
)


def exposition() -> bytes:
    """The current metrics in the Prometheus text format."""
    return generate_latest(REGISTRY)


__all__ = [
    "BROKER_CONNECTED",
    "CONTENT_TYPE",
    "DEAD_LETTERS",
    "EVENTS",
    "EVIDENCE_FAILURES",
    "FAILOVERS",
    "IN_FLIGHT",
    "NOTIFICATIONS",
    "POSSIBLE_DUPLICATES",
    "PROCESSED",
    "PROVIDER_STATE",
    "RETRIES",
    "SEND_SECONDS",
    "exposition",
]
