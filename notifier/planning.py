"""The pure core: an event, the customer's preferences and the catalogue in; a plan of rendered
messages (or a suppression) out. No I/O here; the worker is the shell around it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import datetime

from notifier.errors import InvalidEvent
from notifier.events import CaseEvent
from notifier.messages import EmailMessage, LetterMessage, Message, SmsMessage
from notifier.model import Channel, Council
from notifier.preferences.model import Preferences, from_event_recipient
from notifier.preferences.policy import LONDON, ChannelPlan, Suppression, plan_channels
from notifier.templates import render
from notifier.templates.sms import prepare as prepare_sms
from notifier.templates.source import Catalogue, Template

# (preferences, topic) -> a URL, or None; injected so the core stays free of secrets and I/O.
LinkMaker = Callable[[Preferences, str], str | None]


def _no_link(_preferences: Preferences, _topic: str) -> str | None:
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """What to do for one event: messages per channel in the customer's order, or a suppression."""

    template: Template
    preferences: Preferences
    messages: Mapping[Channel, Message]
    order: tuple[Channel, ...]
    not_before: Mapping[Channel, datetime]
    suppression: Suppression | None = None


def resolve_preferences(event: CaseEvent, stored: Preferences | None) -> Preferences:
    """A stored customer's preferences win; otherwise the details in the event."""
    if stored is not None:
        return stored
    r = event.recipient
    return from_event_recipient(
        event.council,
        r.customer_id,
        name=r.name,
        email=r.email,
        mobile=r.mobile,
        address=r.address,
    )


def plan(
    event: CaseEvent,
    stored: Preferences | None,
    *,
    catalogue: Catalogue,
    councils: Mapping[str, Council],
    now: datetime,
    preferences_link: LinkMaker = _no_link,
    unsubscribe_link: LinkMaker = _no_link,
) -> Plan:
    """Decide and render everything for one event; InvalidEvent if it can never be sent."""
    council = councils.get(event.council)
    if council is None:
        raise InvalidEvent("unknown-council", f"council {event.council!r} is not configured")
    template = catalogue.get(event.council, event.type)
    preferences = resolve_preferences(event, stored)
    values = render.context(
        template, council, event.personalisation, reference=event.subject, name=preferences.name
    )
    decision = plan_channels(
        preferences,
        topic=template.topic,
        statutory=template.statutory,
        urgent=event.urgent,
        now=now,
    )
    if isinstance(decision, Suppression):
        # Render anyway, so a broken event is dead-lettered rather than silently suppressed.
        render.render_email(template, values)
        return Plan(template, preferences, {}, (), {}, decision)
    assert isinstance(decision, ChannelPlan)
    prefs_url = preferences_link(preferences, template.topic)
    unsub_url = None if template.statutory else unsubscribe_link(preferences, template.topic)
    messages = {
        channel: _message(
            channel,
            event,
            template,
            council,
            preferences,
            values,
            now,
            preferences_url=prefs_url,
            unsubscribe_url=unsub_url,
        )
        for channel in decision.channels
    }
    return Plan(template, preferences, messages, decision.channels, decision.not_before)


def _message(
    channel: Channel,
    event: CaseEvent,
    template: Template,
    council: Council,
    preferences: Preferences,
    values: Mapping[str, object],
    now: datetime,
    *,
    preferences_url: str | None,
    unsubscribe_url: str | None,
) -> Message:
    if channel is Channel.EMAIL:
        content = render.render_email(
            template, values, preferences_url=preferences_url, unsubscribe_url=unsubscribe_url
        )
        return EmailMessage(
            notification_id="",
            council=council,
            event_type=event.type,
            to=preferences.email or "",
            subject=content.subject,
            text=content.text,
            html=content.html,
            unsubscribe_url=unsubscribe_url,
        )
    if channel is Channel.SMS:
        try:
            text = prepare_sms(render.render_sms_text(template, values))
        except ValueError:
            raise InvalidEvent("template-error", f"{template.event_type}: empty SMS") from None
        return SmsMessage(
            notification_id="",
            council=council,
            event_type=event.type,
            to=preferences.mobile or "",
            body=text.body,
            fragments=text.fragments,
        )
    letter = render.render_letter(template, values)
    return LetterMessage(
        notification_id="",
        council=council,
        event_type=event.type,
        address=preferences.address or (),
        name=preferences.name,
        title=letter.title,
        reference=event.subject or "",
        blocks=letter.blocks,
        date=now.astimezone(LONDON).date(),
        large_print=preferences.large_print,
        postage=event.postage or template.postage,
        preferences_url=preferences_url,
    )


def contact_of(message: Message) -> str:
    """The contact detail a message goes to, as stored with its notification (then purged)."""
    if isinstance(message, LetterMessage):
        return "\n".join(message.address)
    return message.to
