"""The pure core: an event, the customer's preferences and the catalogue in; a plan of rendered
drafts, one per usable channel (or a suppression), out. No I/O here; the worker is the shell
around it, and gives each draft its notification id (``Draft.addressed``)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from datetime import datetime

from notifier.errors import InvalidEvent, PermanentFailure
from notifier.events import CaseEvent
from notifier.messages import EmailMessage, LetterMessage, Message, SmsMessage
from notifier.model import Channel, Council
from notifier.preferences.contacts import check_contacts
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
class Draft:
    """A rendered message not yet given its notification."""

    contact: str  # the normalised detail stored with the notification (then purged)
    make: Callable[[str], Message] = dataclasses.field(repr=False)

    def addressed(self, notification_id: str) -> Message:
        """The message itself, for the notification ``notification_id``."""
        return self.make(notification_id)


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """What to do for one event: the channels to try in the customer's order, a draft for each
    usable one and, for each whose contact detail cannot be used, why; or a suppression."""

    template: Template
    preferences: Preferences
    drafts: Mapping[Channel, Draft]
    order: tuple[Channel, ...]  # unusable channels included: each is recorded, then fallen past
    not_before: Mapping[Channel, datetime]
    unusable: Mapping[Channel, PermanentFailure]
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
    allow_fiction_range: bool = False,
) -> Plan:
    """Decide and render everything for one event; InvalidEvent if it can never be sent.

    Every contact detail, from the event or stored, goes through its recipients rule first: a
    detail that breaks it makes its channel unusable (``Plan.unusable``), whatever the provider.
    ``allow_fiction_range`` admits Ofcom's drama range 07700 900000-900999 (tests, development).
    """
    council = councils.get(event.council)
    if council is None:
        raise InvalidEvent("unknown-council", f"council {event.council!r} is not configured")
    template = catalogue.get(event.council, event.type)
    contacts = check_contacts(
        resolve_preferences(event, stored), allow_fiction_range=allow_fiction_range
    )
    preferences = contacts.preferences
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
        return Plan(template, preferences, {}, (), {}, {}, decision)
    assert isinstance(decision, ChannelPlan)
    unusable = {c: contacts.unusable[c] for c in decision.channels if c in contacts.unusable}
    prefs_url = preferences_link(preferences, template.topic)
    unsub_url = None if template.statutory else unsubscribe_link(preferences, template.topic)
    drafts = {
        channel: _draft(
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
        if channel not in unusable
    }
    if not drafts:
        render.render_email(template, values)  # as above: a broken event is still dead-lettered
    not_before = {c: t for c, t in decision.not_before.items() if c not in unusable}
    return Plan(template, preferences, drafts, decision.channels, not_before, unusable)


def _draft(
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
) -> Draft:
    """The channel's message, rendered, for a customer whose detail for it is usable."""
    if channel is Channel.EMAIL:
        assert preferences.email is not None
        content = render.render_email(
            template, values, preferences_url=preferences_url, unsubscribe_url=unsubscribe_url
        )
        email = functools.partial(
            EmailMessage,
            council=council,
            event_type=event.type,
            to=preferences.email,
            subject=content.subject,
            text=content.text,
            html=content.html,
            unsubscribe_url=unsubscribe_url,
        )
        return Draft(preferences.email, email)
    if channel is Channel.SMS:
        assert preferences.mobile is not None
        try:
            text = prepare_sms(render.render_sms_text(template, values))
        except ValueError:
            raise InvalidEvent("template-error", f"{template.event_type}: empty SMS") from None
        sms = functools.partial(
            SmsMessage,
            council=council,
            event_type=event.type,
            to=preferences.mobile,
            body=text.body,
            fragments=text.fragments,
        )
        return Draft(preferences.mobile, sms)
    assert preferences.address is not None
    letter = render.render_letter(template, values)
    post = functools.partial(
        LetterMessage,
        council=council,
        event_type=event.type,
        address=preferences.address,
        name=preferences.name,
        title=letter.title,
        reference=event.subject or "",
        blocks=letter.blocks,
        date=now.astimezone(LONDON).date(),
        large_print=preferences.large_print,
        postage=event.postage or template.postage,
        preferences_url=preferences_url,
    )
    return Draft("\n".join(preferences.address), post)
