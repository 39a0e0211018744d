"""A customer's contact preferences as the policy sees them (pure values)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import time
from typing import Any

from notifier.model import DEFAULT_CHANNEL_ORDER, Channel

STANDARD = "standard"
LARGE_PRINT = "large-print"
ACCESSIBLE_FORMATS = (STANDARD, LARGE_PRINT)
DEFAULT_QUIET_HOURS = (time(21, 0), time(8, 0))


@dataclasses.dataclass(frozen=True, slots=True)
class Preferences:
    """How one customer of one council wants to be contacted."""

    council: str
    customer_id: str | None
    name: str | None = None
    email: str | None = None
    email_verified: bool = False
    mobile: str | None = None
    mobile_verified: bool = False
    address: tuple[str, ...] | None = None
    address_verified: bool = False
    channel_order: tuple[Channel, ...] = DEFAULT_CHANNEL_ORDER
    topic_opt_outs: frozenset[str] = frozenset()
    sms_opted_out: bool = False
    quiet_hours: tuple[time, time] | None = DEFAULT_QUIET_HOURS
    language: str = "en"
    accessible_format: str = STANDARD
    do_not_contact: bool = False
    deceased: bool = False
    stored: bool = False

    @property
    def large_print(self) -> bool:
        return self.accessible_format == LARGE_PRINT

    def opted_out_of(self, topic: str, channel: Channel | None = None) -> bool:
        """Whether the customer opted out of ``topic`` everywhere (or, given a channel, there).

        An entry is a topic (``waste``: not at all) or a topic on one channel (``waste:sms``:
        not by text, so the next channel in the order takes it)."""
        if topic in self.topic_opt_outs:
            return True
        return channel is not None and f"{topic}:{channel}" in self.topic_opt_outs

    def contact(self, channel: Channel) -> str | tuple[str, ...] | None:
        """The contact detail this customer has for ``channel``, if any."""
        if channel is Channel.EMAIL:
            return self.email
        if channel is Channel.SMS:
            return self.mobile
        return self.address


def from_event_recipient(
    council: str,
    customer_id: str | None,
    *,
    name: str | None,
    email: str | None,
    mobile: str | None,
    address: tuple[str, ...] | None,
) -> Preferences:
    """Preferences for a customer the service has no record of: the event's details, the
    default channel order."""
    return Preferences(
        council=council,
        customer_id=customer_id,
        name=name,
        email=email,
        mobile=mobile,
        address=address,
    )


# What the resident chooses (on the page, or by replying STOP) rather than what the council holds.
RESIDENT_CHOICES = frozenset(
    {"channel_order", "topic_opt_outs", "sms_opted_out", "quiet_hours", "accessible_format"}
)


def replaced(
    council: str, customer_id: str, given: Mapping[str, Any], existing: Preferences | None
) -> Preferences:
    """A customer record replaced by a council system (API ``PUT`` or CSV import).

    Every field in ``given`` is taken; anything else the council holds (contact details, verified
    flags, language, do-not-contact, deceased) falls back to its default. The resident's own
    choices that ``given`` leaves out are kept, so a nightly sync never undoes them, except a
    STOP, which belonged to the old number when the mobile number changes.
    """
    kept: dict[str, Any] = {}
    if existing is not None:
        kept = {name: getattr(existing, name) for name in RESIDENT_CHOICES - set(given)}
        if "sms_opted_out" not in given and given.get("mobile") != existing.mobile:
            kept["sms_opted_out"] = False
    return dataclasses.replace(
        Preferences(council=council, customer_id=customer_id), **{**kept, **given}, stored=True
    )
