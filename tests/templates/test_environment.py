"""The template language: filters, Markdown escaping of values, blocks, HTML links."""

from __future__ import annotations

import pytest

from notifier.messages import Heading, ListBlock, Paragraph
from notifier.templates.blocks import parse_blocks, plain_text
from notifier.templates.environment import (
    format_date,
    format_money,
    format_postcode,
    format_time,
    linkify,
    markdown_env,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2027-01-04", "Monday 4 January 2027"), ("2026-11-29T10:15:00Z", "Sunday 29 November 2026")],
)
def test_dates_are_in_govuk_style(value: str, expected: str) -> None:
    """Dates read 'Monday 4 January 2027', with no leading zero or ordinal."""
    assert format_date(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2027-01-04T10:00", "10am"),
        ("2027-01-04T14:30", "2:30pm"),
        ("2027-01-04T12:00", "midday"),
        ("2027-01-04T00:00", "midnight"),
    ],
)
def test_times_are_in_govuk_style(value: str, expected: str) -> None:
    """Times read 10am, 2:30pm, midday, midnight."""
    assert format_time(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1234.5", "£1,234.50"), ("218", "£218"), (75.0, "£75"), ("0.99", "£0.99")],
)
def test_money_shows_pence_only_when_there_are_any(value: object, expected: str) -> None:
    """Pounds with separators; '.00' is left off."""
    assert format_money(value) == expected


def test_money_refuses_what_is_not_a_number() -> None:
    """A non-number is a template error, not '£nan'."""
    with pytest.raises(ValueError, match="needs a number"):
        format_money("lots")


@pytest.mark.parametrize(
    ("value", "expected"), [("cv376aa", "CV37 6AA"), ("CV37  6AA", "CV37 6AA")]
)
def test_postcodes_are_normalised(value: str, expected: str) -> None:
    """Postcodes in capitals with one space."""
    assert format_postcode(value) == expected


def test_values_cannot_inject_markdown_structure() -> None:
    """A value that looks like a heading or a list item stays text in the paragraph."""
    body = markdown_env.from_string("Your street: {{ street }}\n\n- item").render(
        street="# Heading\n- bullet *bold*"
    )
    assert parse_blocks(body) == (
        Paragraph("Your street: # Heading - bullet *bold*"),
        ListBlock(("item",)),
    )


def test_plain_text_follows_email_conventions() -> None:
    """Headings underlined to 65 columns, bullets as •, paragraphs separated by a blank line."""
    text = plain_text((Heading(1, "Title"), Paragraph("One."), ListBlock(("a", "b"))))
    assert text == "Title\n" + "=" * 65 + "\n\nOne.\n\n\u2022 a\n\u2022 b"


def test_linkify_links_https_addresses_and_escapes_the_rest() -> None:
    """https:// addresses become links; everything else, markup included, is escaped."""
    html = str(linkify('Pay at https://x.gov.uk/pay?a=1&b=2. <b>"now"</b>'))
    assert '<a href="https://x.gov.uk/pay?a=1&amp;b=2"' in html
    assert html.endswith("</a>. &lt;b&gt;&#34;now&#34;&lt;/b&gt;")
