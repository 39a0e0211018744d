"""Prometheus metrics; label sets are closed (no ids, no personal data)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from notifier import __version__

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
    "Notification status changes, by channel, council and status.",
    ["channel", "council", "status"],
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

BUILD_INFO = Gauge(
    "notifier_build_info",
    "Always 1; the running version in its label.",
    ["version"],
    registry=REGISTRY,
)
BUILD_INFO.labels(version=__version__).set(1)
QUEUE_MESSAGES = Gauge(
    "notifier_queue_messages",
    "Messages ready in a queue (notifier.events, notifier.dead), by a passive declare.",
    ["queue"],
    registry=REGISTRY,
)
QUEUE_OLDEST_AGE = Gauge(
    "notifier_queue_oldest_age_seconds",
    "Estimated age of the oldest message waiting in notifier.events (0 when empty).",
    registry=REGISTRY,
)
QUEUE_WAIT_SECONDS = Histogram(
    "notifier_queue_wait_seconds",
    "Time from publication (the AMQP timestamp) to the worker taking the event.",
    registry=REGISTRY,
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600),
)
LETTERS = Gauge(
    "notifier_letters",
    "Letters by where they stand in the print hand-over (a database count, refreshed).",
    ["state"],
    registry=REGISTRY,
)
# waiting: spooled for the next batch; batched: claimed by a batch not yet handed over;
# handed-over: with the print house, not yet reported posted; posted; returned.
LETTER_STATES = ("waiting", "batched", "handed-over", "posted", "returned")
LETTERS_OLDEST_HANDED_OVER = Gauge(
    "notifier_letters_oldest_handed_over_seconds",
    "Age of the oldest letter handed to the print house and not yet reported posted (0: none).",
    registry=REGISTRY,
)
WEBHOOK_RECEIPTS = Counter(
    "notifier_webhook_receipts_total",
    "Provider webhook requests, by provider and what came of them.",
    ["provider", "result"],
    registry=REGISTRY,
)
DATABASE_ROUND_TRIP = Histogram(
    "notifier_database_round_trip_seconds",
    "Time the database took to answer SELECT 1 (a periodic probe).",
    registry=REGISTRY,
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
DATABASE_UP = Gauge(
    "notifier_database_up",
    "1 when the last database probe was answered, else 0.",
    registry=REGISTRY,
)


def exposition() -> bytes:
    """The current metrics in the Prometheus text format."""
    return generate_latest(REGISTRY)


__all__ = [
    "BOUNCES",
    "BROKER_CONNECTED",
    "BUILD_INFO",
    "CONTENT_TYPE",
    "DATABASE_ROUND_TRIP",
    "DATABASE_UP",
    "DEAD_LETTERS",
    "EVENTS",
    "EVIDENCE_FAILURES",
    "FAILOVERS",
    "IN_FLIGHT",
    "LETTERS",
    "LETTERS_OLDEST_HANDED_OVER",
    "LETTER_STATES",
    "NOTIFICATIONS",
    "POSSIBLE_DUPLICATES",
    "PROCESSED",
    "PROVIDER_STATE",
    "QUEUE_MESSAGES",
    "QUEUE_OLDEST_AGE",
    "QUEUE_WAIT_SECONDS",
    "RETRIES",
    "SEND_SECONDS",
    "WEBHOOK_RECEIPTS",
    "exposition",
]
