"""A customer's contact preferences as the policy sees them (pure values)."""

from __future__ import annotations

import dataclasses
from datetime import time

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
    mobile: str | None = None
    address: tuple[str, ...] | None = None
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
