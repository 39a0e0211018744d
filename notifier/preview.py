"""Rendering a template's sample event for content designers (``notifier templates preview``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime

from notifier.events import CaseEvent, Recipient
from notifier.letters.render import render_letter
from notifier.messages import EmailMessage, LetterMessage, SmsMessage
from notifier.model import Channel, Council
from notifier.planning import plan
from notifier.preferences.model import LARGE_PRINT, STANDARD, Preferences
from notifier.templates.source import Catalogue

SAMPLE_EMAIL = "alex.smith@example.org"
SAMPLE_MOBILE = "+447700900123"
SAMPLE_ADDRESS = ("10 High Street", "Stratford-upon-Avon", "CV37 6AA")


@dataclasses.dataclass(frozen=True)
class Preview:
    """A rendered sample: the bytes to write and a one-line summary."""

    content: bytes
    summary: str


def sample_event(catalogue: Catalogue, council: str, event_type: str) -> CaseEvent:
    """The event a template is checked and previewed with."""
    template = catalogue.get(council, event_type)
    return CaseEvent(
        id="preview",
        source="/notifier/preview",
        type=event_type,
        council=council,
        recipient=Recipient(name=template.sample.name),
        personalisation=dict(template.sample.personalisation),
        subject=template.sample.reference,
    )


def preview(
    catalogue: Catalogue,
    councils: Mapping[str, Council],
    event_type: str,
    council: str,
    channel: Channel,
    *,
    large_print: bool = False,
    now: datetime | None = None,
) -> Preview:
    """Render ``event_type``'s sample for one council and channel (HTML, text or PDF)."""
    event = sample_event(catalogue, council, event_type)
    preferences = Preferences(
        council=council,
        customer_id=None,
        name=event.recipient.name,
        email=SAMPLE_EMAIL,
        mobile=SAMPLE_MOBILE,
        address=SAMPLE_ADDRESS,
        channel_order=(channel,),
        quiet_hours=None,
        accessible_format=LARGE_PRINT if large_print else STANDARD,
    )
    decided = plan(
        event,
        preferences,
        catalogue=catalogue,
        councils=councils,
        now=now or datetime.now(UTC),
        preferences_link=lambda _p, _t: f"{councils[council].website}/notifications",
        allow_fiction_range=True,  # the sample mobile is in Ofcom's drama range
    )
    message = decided.drafts[channel].addressed("preview")
    if isinstance(message, EmailMessage):
        return Preview(message.html.encode(), f"subject: {message.subject}")
    if isinstance(message, SmsMessage):
        return Preview(
            (message.body + "\n").encode(),
            f"{message.fragments} fragment(s), {len(message.body)} characters",
        )
    assert isinstance(message, LetterMessage)
    letter = render_letter(message)
    return Preview(letter.pdf, f"{letter.pages} page(s)")
