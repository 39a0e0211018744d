"""Plain value types shared by the core, the channels and the store; imports nothing of ours."""

from __future__ import annotations

import dataclasses
from enum import StrEnum


class Channel(StrEnum):
    """A way of reaching a resident."""

    EMAIL = "email"
    SMS = "sms"
    LETTER = "letter"


DEFAULT_CHANNEL_ORDER: tuple[Channel, ...] = (Channel.EMAIL, Channel.SMS, Channel.LETTER)


class Status(StrEnum):
    """Notification statuses, named exactly as in DESIGN.md."""

    CREATED = "created"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    PERMANENT_FAILURE = "permanent-failure"
    TEMPORARY_FAILURE = "temporary-failure"
    TECHNICAL_FAILURE = "technical-failure"
    SUPPRESSED = "suppressed"
    POSTED = "posted"
    RETURNED = "returned"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """Whether the status is terminal (only ``posted`` may still become ``returned``)."""
        return self in FINAL_STATUSES

    @property
    def is_failure(self) -> bool:
        return self in FAILURE_STATUSES


FINAL_STATUSES = frozenset(
    {
        Status.SENT,
        Status.DELIVERED,
        Status.PERMANENT_FAILURE,
        Status.TEMPORARY_FAILURE,
        Status.TECHNICAL_FAILURE,
        Status.SUPPRESSED,
        Status.POSTED,
        Status.RETURNED,
        Status.CANCELLED,
    }
)
FAILURE_STATUSES = frozenset(
    {Status.PERMANENT_FAILURE, Status.TEMPORARY_FAILURE, Status.TECHNICAL_FAILURE}
)
# The forward rank of non-final statuses; any final status outranks them all.
_RANK = {Status.CREATED: 0, Status.SENDING: 1}


def may_move(current: Status, new: Status) -> bool:
    """Whether a notification in ``current`` may move to ``new`` (never backwards, never out of
    a final status except ``posted`` -> ``returned``; ``sent`` may still complete to a receipt)."""
    if current == new:
        return False
    if new is Status.CANCELLED:
        # Only what still waits: ``created``, or ``sending`` whose attempts all failed before
        # reaching a provider (the caller checks which); once handed over it is too late.
        return current in (Status.CREATED, Status.SENDING)
    if current is Status.POSTED:
        return new is Status.RETURNED
    if current is Status.SENT:
        return new in (Status.DELIVERED, Status.PERMANENT_FAILURE, Status.TEMPORARY_FAILURE)
    if current.is_final:
        return False
    return new.is_final or _RANK[new] > _RANK[current]


@dataclasses.dataclass(frozen=True, slots=True)
class Receipt:
    """What a channel returns when a provider accepted a message (or, reconciling, what the
    provider says became of it: ``reason`` then carries its code)."""

    status: Status
    provider_ref: str | None = None
    fragments: int | None = None
    reason: str | None = None
    # The exact bytes handed to the provider (the signed email, the text message as posted, the
    # letter's PDF): kept as evidence of service for statutory notices, dropped otherwise.
    content: bytes | None = dataclasses.field(default=None, repr=False, compare=False)


@dataclasses.dataclass(frozen=True, slots=True)
class Council:
    """One council's name, contact details and branding."""

    code: str
    name: str
    website: str
    phone: str
    email_from: str
    reply_to: str
    sms_sender: str
    address: tuple[str, ...]
    brand_colour: str = "#0b0c0c"
    logo_text: str = ""
    logo_file: str | None = None
    # The return path's base (``bounces@bounces.example.gov.uk``); each notification's MAIL FROM
    # is ``<local>+<token>@<domain>`` (notifier/bounces/verp.py). Empty: no bounce intake.
    bounce_address: str = ""
    # Years this council's statutory notices' evidence is kept (1-100); None: the service's
    # NOTIFIER_EVIDENCE_YEARS.
    evidence_years: int | None = None

    @property
    def email_domain(self) -> str:
        return self.email_from.rpartition("@")[2]
