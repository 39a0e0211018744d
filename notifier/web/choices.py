"""What a resident can choose on their page, in words they use: the topics, the form's
choices turned into preferences, and a plain account of what changed. Pure: no I/O."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from notifier.model import Channel
from notifier.preferences.model import LARGE_PRINT, STANDARD, Preferences
from notifier.templates.source import Template

CHANNEL_NAMES = {Channel.EMAIL: "email", Channel.SMS: "text message", Channel.LETTER: "letter"}
# Topic codes as residents would say them; a topic missing here is shown by its code.
TOPIC_NAMES = {
    "waste": "bins, recycling and waste collections",
    "planning": "planning applications",
    "council-tax": "Council Tax",
    "benefits": "benefits",
    "housing": "housing repairs",
    "licensing": "licences",
    "complaints": "complaints",
}


@dataclasses.dataclass(frozen=True, slots=True)
class Topic:
    """A group of event types a resident can stop, and whether some are notices the law needs."""

    code: str
    name: str
    statutory: tuple[str, ...]  # the statutory notices' subjects, as examples
    optional: bool  # has messages that can be stopped

    @property
    def label(self) -> str:
        return self.name[0].upper() + self.name[1:]


def topics_of(templates: Iterable[Template]) -> dict[str, Topic]:
    """The topics the catalogue declares, in alphabetical order of their names."""
    statutory: dict[str, list[str]] = {}
    optional: dict[str, bool] = {}
    for template in templates:
        statutory.setdefault(template.topic, [])
        if template.statutory:
            statutory[template.topic].append(template.event_type)
        optional[template.topic] = optional.get(template.topic, False) or not template.statutory
    topics = [
        Topic(
            code,
            TOPIC_NAMES.get(code, code.replace("-", " ")),
            tuple(sorted(kinds)),
            optional[code],
        )
        for code, kinds in statutory.items()
    ]
    return {t.code: t for t in sorted(topics, key=lambda t: t.name.lower())}


def usable_channels(preferences: Preferences) -> tuple[Channel, ...]:
    """Channels the resident can pick: those we hold a contact detail for (and, for texts,
    not after a STOP), in their current order first."""
    order = (*preferences.channel_order, *Channel)
    return tuple(
        c
        for c in dict.fromkeys(order)
        if preferences.contact(c) and not (c is Channel.SMS and preferences.sms_opted_out)
    )


@dataclasses.dataclass(frozen=True, slots=True)
class FormError:
    field: str  # the id of the input the error summary links to
    message: str


@dataclasses.dataclass(frozen=True, slots=True)
class Submitted:
    first: str | None
    stop: tuple[str, ...]
    large_print: bool


def apply_form(
    preferences: Preferences, form: Submitted, topics: Mapping[str, Topic]
) -> Preferences | list[FormError]:
    """The preferences after the resident's form, or what to put right."""
    errors = []
    choices = usable_channels(preferences)
    first = next((c for c in choices if str(c) == form.first), None)
    if choices and first is None:
        errors.append(FormError("first-channel", "Select how you want us to contact you first"))
    stoppable = {code for code, topic in topics.items() if topic.optional}
    if not set(form.stop) <= stoppable:
        errors.append(FormError("stop", "Select only messages from the list"))
    if errors:
        return errors
    order = preferences.channel_order
    if first is not None:
        order = (first, *(c for c in order if c is not first))
    # Entries the page does not show (a topic on one channel, set by the council) are kept.
    kept = {entry for entry in preferences.topic_opt_outs if entry not in stoppable}
    return dataclasses.replace(
        preferences,
        channel_order=order,
        topic_opt_outs=frozenset(kept | set(form.stop)),
        accessible_format=LARGE_PRINT if form.large_print else STANDARD,
    )


def changes(before: Preferences, after: Preferences, topics: Mapping[str, Topic]) -> list[str]:
    """Each change, as a sentence for the resident; empty when nothing changed."""
    said = []
    if after.channel_order[:1] != before.channel_order[:1] and after.channel_order:
        was = (
            f" instead of by {CHANNEL_NAMES[before.channel_order[0]]}"
            if before.channel_order
            else ""
        )
        said.append(f"We will contact you first by {CHANNEL_NAMES[after.channel_order[0]]}{was}.")
    for code in sorted(after.topic_opt_outs - before.topic_opt_outs):
        said.append(f"You will no longer get messages about {_name(code, topics)}.")
    for code in sorted(before.topic_opt_outs - after.topic_opt_outs):
        said.append(f"You will get messages about {_name(code, topics)} again.")
    if after.large_print != before.large_print:
        size = "large print" if after.large_print else "standard print"
        said.append(f"We will send your letters in {size}.")
    return said


def order_in_words(preferences: Preferences) -> Sequence[str]:
    """The channels we would try, in order, as words."""
    usable = set(usable_channels(preferences))
    return [CHANNEL_NAMES[c] for c in preferences.channel_order if c in usable]


def _name(entry: str, topics: Mapping[str, Topic]) -> str:
    code, _, channel = entry.partition(":")
    topic = topics.get(code)
    name = topic.name if topic else code
    if channel in {str(c) for c in Channel}:
        return f"{name} by {CHANNEL_NAMES[Channel(channel)]}"
    return name


def stopped(preferences: Preferences, topics: Mapping[str, Topic]) -> list[str]:
    """The messages the resident has stopped, as words."""
    return [_name(entry, topics) for entry in sorted(preferences.topic_opt_outs)]


def masked_email(email: str) -> str:
    """Enough of an address to recognise it, not enough to harvest it."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}"


def masked_mobile(mobile: str) -> str:
    return f"ending {mobile[-3:]}"
