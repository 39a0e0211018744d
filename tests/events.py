"""Sample case events for tests."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

SAMPLE: dict[str, Any] = {
    "specversion": "1.0",
    "id": "8d6f4a0e-2b8a-4a4e-9d1c-3f0e8b7c1a55",
    "source": "/councils/sdc/planning",
    "type": "planning.application.received",
    "time": "2026-11-29T10:15:00Z",
    "subject": "24/01234/FUL",
    "datacontenttype": "application/json",
    "data": {
        "council": "sdc",
        "recipient": {
            "customer_id": "SDC-000123",
            "name": "Alex Smith",
            "email": "alex@example.org",
            "mobile": "07700 900123",
            "address": ["Flat 2", "10 High Street", "Stratford-upon-Avon", "CV37 6AA"],
        },
        "personalisation": {
            "application_address": "10 High Street",
            "decision_due": "2027-01-24",
        },
        "urgent": False,
    },
}


def make_event(**changes: Any) -> dict[str, Any]:
    """The sample event with a fresh id; ``recipient=``/``personalisation=``/``council=`` and
    top-level keys may be replaced."""
    event = copy.deepcopy(SAMPLE)
    event["id"] = str(uuid.uuid4())
    for key in ("recipient", "personalisation", "council", "urgent", "postage"):
        if key in changes:
            event["data"][key] = changes.pop(key)
    event.update(changes)
    return event


def body(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def load_event(
    reference: str, seq: int, *, sms: bool, customer: str | None = None, **personalisation: Any
) -> dict[str, Any]:
    """A planning event for load and fault runs: its own case reference, an unknown customer
    with only an email address or only a mobile. Urgent, so SMS is never held back by quiet
    hours whatever time the run starts."""
    recipient: dict[str, Any] = {
        "customer_id": customer or f"{reference}-{seq}",
        "name": "Alex Smith",
    }
    if sms:
        recipient["mobile"] = f"07700 900{seq % 1000:03d}"
    else:
        recipient["email"] = f"resident{seq}@example.org"
    return make_event(
        subject=reference,
        recipient=recipient,
        urgent=True,
        personalisation={**SAMPLE["data"]["personalisation"], **personalisation},
    )
