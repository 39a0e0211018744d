"""Rendering one template for one channel: pure functions from template + values to content."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from jinja2 import Template as JinjaTemplate
from jinja2 import UndefinedError
from jinja2.exceptions import SecurityError

from notifier.errors import InvalidEvent
from notifier.messages import Block, Heading
from notifier.model import Council
from notifier.templates.blocks import parse_blocks, plain_text
from notifier.templates.environment import COLLECTED, autoescape_env
from notifier.templates.source import Template


@dataclasses.dataclass(frozen=True, slots=True)
class EmailContent:
    subject: str
    text: str
    html: str


@dataclasses.dataclass(frozen=True, slots=True)
class LetterContent:
    title: str
    blocks: tuple[Block, ...]


def context(
    template: Template,
    council: Council,
    personalisation: Mapping[str, Any],
    *,
    reference: str | None,
    name: str | None,
) -> dict[str, Any]:
    """The values a template sees; InvalidEvent when a declared value is missing."""
    missing = [key for key in template.personalisation if personalisation.get(key) in (None, "")]
    if missing:
        raise InvalidEvent("missing-personalisation", "missing: " + ", ".join(sorted(missing)))
    return {**personalisation, "council": council, "reference": reference or "", "name": name}


def _render(compiled: JinjaTemplate, template: Template, values: Mapping[str, Any]) -> str:
    try:
        return compiled.render(values).strip()
    except UndefinedError as exc:
        # Jinja's message names the variable ("'street' is undefined"), never its value.
        raise InvalidEvent("missing-personalisation", str(exc.message)) from None
    except (SecurityError, TypeError, ValueError, ArithmeticError) as exc:
        raise InvalidEvent(
            "template-error", f"{template.event_type}: {type(exc).__name__}"
        ) from None


def render_subject(template: Template, values: Mapping[str, Any]) -> str:
    return " ".join(_render(template.compiled[0], template, values).split())


def render_sms_text(template: Template, values: Mapping[str, Any]) -> str:
    return _render(template.compiled[1], template, values)


def render_blocks(template: Template, values: Mapping[str, Any]) -> tuple[Block, ...]:
    """The body's blocks: its shape's blocks, parsed once, filled with the values; or, for a
    body or shape that cannot be parsed once (``Template.marked``, ``blocks.Shapes``), the
    rendered body parsed."""
    marked = template.marked
    if marked is not None:
        collected: list[str] = []
        shape = _render(marked, template, {**values, COLLECTED: collected})
        blocks = template.shapes.fill(shape, collected)
        if blocks is not None:
            return blocks
    return parse_blocks(_render(template.compiled[2], template, values))


def render_email(
    template: Template,
    values: Mapping[str, Any],
    *,
    preferences_url: str | None = None,
    unsubscribe_url: str | None = None,
) -> EmailContent:
    """Subject, plain text and accessible HTML, all from the one template source. Optional
    (non-statutory) messages carry a visible unsubscribe link as well as the header."""
    council: Council = values["council"]
    subject = render_subject(template, values)
    blocks = render_blocks(template, values)
    footer = _footer(council, preferences_url, unsubscribe_url, template.topic)
    text = plain_text(blocks) + "\n\n" + "\n".join(footer) + "\n"
    html = autoescape_env.get_template("email.html").render(
        subject=subject,
        blocks=blocks,
        council=council,
        footer=footer,
        preferences_url=preferences_url,
        unsubscribe_url=unsubscribe_url,
        topic=template.topic,
        lang="en-GB",
    )
    return EmailContent(subject=subject, text=text, html=html)


def render_letter(template: Template, values: Mapping[str, Any]) -> LetterContent:
    """The letter's title is the body's opening heading (else the subject), printed once."""
    blocks = render_blocks(template, values)
    if blocks and isinstance(blocks[0], Heading) and blocks[0].level == 1:
        return LetterContent(title=blocks[0].text, blocks=blocks[1:])
    return LetterContent(title=render_subject(template, values), blocks=blocks)


def _footer(
    council: Council, preferences_url: str | None, unsubscribe_url: str | None, topic: str
) -> list[str]:
    lines = [f"{council.name}", f"Telephone: {council.phone}", f"Website: {council.website}"]
    if preferences_url:
        lines.append(f"Change how we contact you: {preferences_url}")
    if unsubscribe_url:
        lines.append(f"Stop {topic} emails: {unsubscribe_url}")
    return lines
