"""The Jinja2 environments (sandboxed for template files) and the filters templates may use."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})$")


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).date()


def format_date(value: Any) -> str:
    """GOV.UK style: ``Monday 4 January 2027``."""
    day = _as_date(value)
    return f"{day:%A} {day.day} {day:%B %Y}"


def format_time(value: Any) -> str:
    """GOV.UK style: ``10am``, ``2:30pm``, ``midday``."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.hour == 12 and moment.minute == 0:
        return "midday"
    if moment.hour == 0 and moment.minute == 0:
        return "midnight"
    hour = moment.hour % 12 or 12
    suffix = "am" if moment.hour < 12 else "pm"
    return f"{hour}{suffix}" if moment.minute == 0 else f"{hour}:{moment.minute:02d}{suffix}"


def format_money(value: Any) -> str:
    """Pounds with a pound sign and thousands separators; pence only when there are any."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError("money filter needs a number") from None
    if amount == amount.to_integral_value():
        return f"£{amount:,.0f}"
    return f"£{amount:,.2f}"


def format_postcode(value: Any) -> str:
    """A UK postcode in capitals with its single space (``cv376aa`` -> ``CV37 6AA``)."""
    text = re.sub(r"\s+", "", str(value)).upper()
    match = _POSTCODE.match(text)
    return f"{match.group(1)} {match.group(2)}" if match else str(value).upper()


def escape_markdown(value: Any) -> Any:
    """Make a personalisation value literal text inside a Markdown body (no injected headings,
    lists or emphasis); line breaks in values become spaces."""
    if value is None:
        return ""
    text = " ".join(str(value).split())
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)


def markdown_literal(value: Any) -> str:
    """The text ``escape_markdown(value)`` reads as once its Markdown is parsed: every escaped
    punctuation character is itself again (CommonMark 0.31.2, 2.4 "Backslash escapes"), and a
    NUL is U+FFFD (2.3 "Insecure characters")."""
    if value is None:
        return ""
    return " ".join(str(value).split()).replace("\0", "\ufffd")


# Private-use characters (The Unicode Standard, 23.5): no Markdown rule, filter or wording gives
# them a meaning. In a body whose Markdown is parsed once (blocks.Shapes), the n-th value is
# written as the n-th of them (the last one stands for every value past it).
FIRST_MARK, LAST_MARK = 0xE000, 0xF8FF
MARK_RANGE = f"{chr(FIRST_MARK)}-{chr(LAST_MARK)}"  # for a regular expression's [...]
MARKS = re.compile(f"[{MARK_RANGE}]")
# Where a marked render collects the values: not a name a template can spell.
COLLECTED = "collected values"


@pass_context
def _mark(context: Context, value: Any) -> str:
    """Each value collected as the text it reads as, its mark written in its place; a value that
    reads as nothing writes nothing, exactly as ``escape_markdown`` does."""
    text = markdown_literal(value)
    if not text:
        return ""
    collected = context[COLLECTED]
    collected.append(text)
    return chr(min(FIRST_MARK + len(collected) - 1, LAST_MARK))


def _plain(value: Any) -> Any:
    return "" if value is None else value


FILTERS = {
    "date": format_date,
    "time": format_time,
    "money": format_money,
    "postcode": format_postcode,
}


def _environment(finalize: Any) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        finalize=finalize,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return env


# Bodies are Markdown, so values are escaped as they go in; subjects and texts are plain.
markdown_env = _environment(escape_markdown)
plain_env = _environment(_plain)
# Bodies again, each value collected and a mark written in its place (render.render_blocks).
marked_env = _environment(_mark)
_URL = re.compile(r"https://[^\s<>\"]*[^\s<>\".,;:!?)]")
_LINK_STYLE = "color:#1d70b8;text-decoration:underline;"


def linkify(text: str) -> Markup:
    """Text for HTML, escaped, with its https:// addresses as links."""
    parts: list[Markup] = []
    last = 0
    for match in _URL.finditer(text):
        url = escape(match[0])
        parts += [
            escape(text[last : match.start()]),
            Markup(f'<a href="{url}" style="{_LINK_STYLE}">{url}</a>'),
        ]
        last = match.end()
    parts.append(escape(text[last:]))
    return Markup("").join(parts)


# Layouts (the HTML email frame) are package files rendered with HTML autoescaping. They are the
# project's own code, never a council's, so they need no sandbox (which guards against what a
# template's code may do, and costs a third of an email's layout in attribute checks); values
# are escaped as ever.
autoescape_env = Environment(
    loader=PackageLoader("notifier.templates", "layouts"),
    auto_reload=False,  # package files: no need to look at their times each email
    undefined=StrictUndefined,
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
autoescape_env.filters["linkify"] = linkify
