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
IN_FLIGHT = Gauge(
    "notifier_events_in_flight",
    "Events being processed now.",
    registry=REGISTRY,
)
BOUNCES = Counter(
    "notifier_bounces_total",
    "Messages to the bounce addresses, by kind (hard, soft, complaint, ...), council (or"
    " unknown) and result (applied, noted, ignored, or why refused).",
    ["kind", "council", "result"],
    registry=REGISTRY,
)
BROKER_CONNECTED = Gauge(
    "notifier_broker_connected",
    "1 while the worker's broker connection is open.",
    registry=REGISTRY,
)


def exposition() -> bytes:
    """The current metrics in the Prometheus text format."""
    return generate_latest(REGISTRY)


__all__ = [
    "BOUNCES",
    "BROKER_CONNECTED",
    "CONTENT_TYPE",
    "DEAD_LETTERS",
    "EVENTS",
    "IN_FLIGHT",
    "NOTIFICATIONS",
    "PROCESSED",
    "RETRIES",
    "SEND_SECONDS",
    "exposition",
]
