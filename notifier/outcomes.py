"""Outcome events: what the service tells council systems back (CloudEvents, no personal data)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, Protocol

from notifier.model import Status
from notifier.store.notifications import Notification

OUTCOME_SOURCE = "/notifier"


class OutcomeSink(Protocol):
    """Where outcome events go (the ``notifier.outcomes`` exchange in production)."""

    async def publish(self, routing_key: str, body: bytes, message_id: str) -> None: ...


def outcome_event(
    notification: Notification, status: Status, reason: str | None, at: datetime
) -> dict[str, Any]:
    """The CloudEvent for one status change of one notification."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": OUTCOME_SOURCE,
        "type": f"notification.{status}",
        "time": at.isoformat(),
        "subject": notification.case_reference,
        "datacontenttype": "application/json",
        "data": {
            "notification_id": notification.id,
            "event_id": notification.event_id,
            "event_source": notification.event_source,
            "event_type": notification.event_type,
            "council": notification.council,
            "case_reference": notification.case_reference,
            "customer_id": notification.customer_id,
            "channel": notification.channel,
            "status": str(status),
            "reason": reason,
            "created_at": notification.created_at.isoformat(),
            "updated_at": at.isoformat(),
        },
    }


async def publish_outcome(
    sink: OutcomeSink,
    notification: Notification,
    status: Status,
    reason: str | None,
    at: datetime,
) -> None:
    """Publish one outcome; routing key ``notification.<status>``."""
    event = outcome_event(notification, status, reason, at)
    await sink.publish(f"notification.{status}", json.dumps(event).encode(), event["id"])
