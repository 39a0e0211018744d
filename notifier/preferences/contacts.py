"""Which of a customer's contact details can be used, each checked and normalised by the one
rule for its kind (``notifier.recipients``), whether it came with the event or was stored.

Pure: no I/O. A detail that breaks its rule makes its channel unusable, with a PermanentFailure
whose code says which kind (``invalid-email``, ``invalid-mobile``, ``invalid-address``) and whose
detail names the rule, never the value (docs/events.md, "Failure reasons").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from notifier.errors import PermanentFailure
from notifier.model import Channel
from notifier.preferences.model import Preferences
from notifier.recipients.address import normalise_address
from notifier.recipients.email import normalise_email
from notifier.recipients.invalid import InvalidDetail
from notifier.recipients.mobile import normalise_uk_mobile

INVALID_EMAIL = "invalid-email"
INVALID_MOBILE = "invalid-mobile"
INVALID_ADDRESS = "invalid-address"


@dataclasses.dataclass(frozen=True, slots=True)
class Contacts:
    """The preferences with every usable detail normalised (email as sent, mobile in E.164,
    address lines as given less blank ones; a blank detail is none), and why the others cannot
    be used. An unusable detail is kept as given, so its channel keeps its place in the order."""

    preferences: Preferences
    unusable: Mapping[Channel, PermanentFailure]


def check_contacts(preferences: Preferences, *, allow_fiction_range: bool = False) -> Contacts:
    """Each detail through its rule: the letter's with the name it will carry on its first line,
    and Ofcom's drama range (07700 900000-900999) accepted as a mobile only when allowed."""
    unusable: dict[Channel, PermanentFailure] = {}
    email = _present(preferences.email)
    if email is not None:
        try:
            email = normalise_email(email)
        except InvalidDetail as exc:
            unusable[Channel.EMAIL] = PermanentFailure(INVALID_EMAIL, exc.code)
    mobile = _present(preferences.mobile)
    if mobile is not None:
        try:
            mobile = normalise_uk_mobile(mobile, allow_fiction_range=allow_fiction_range)
        except InvalidDetail as exc:
            unusable[Channel.SMS] = PermanentFailure(INVALID_MOBILE, exc.code)
    address = tuple(line for line in preferences.address or () if line.strip()) or None
    if address is not None:
        try:
            normalise_address(address, name=preferences.name)
        except InvalidDetail as exc:
            unusable[Channel.LETTER] = PermanentFailure(INVALID_ADDRESS, exc.code)
    normalised = dataclasses.replace(preferences, email=email, mobile=mobile, address=address)
    return Contacts(normalised, unusable)


def _present(detail: str | None) -> str | None:
    return detail if detail and detail.strip() else None
