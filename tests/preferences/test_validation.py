"""Checking customer details: each rule named by field and code, never echoing the value."""

from __future__ import annotations

from typing import Any

import pytest

from notifier.model import Channel
from notifier.preferences.validation import FieldError, check_customer, customer_id

TOPICS = frozenset({"waste", "planning"})


def check(**raw: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    values, errors = check_customer(raw, topics=TOPICS, allow_fiction_range=True)
    return values, [(e.field, e.rule) for e in errors]


def test_good_values_are_normalised() -> None:
    """Mobiles become E.164, emails' domains lower case, lists typed, blanks None."""
    values, errors = check(
        email="Alex@Example.ORG",
        mobile="07700 900123",
        name="  Alex   Smith ",
        channel_order=["sms", "email"],
        topic_opt_outs=["waste", "planning:sms"],
        quiet_hours=("22:00", "07:30"),
        address=["10 High Street", "", "Stratford", "CV37 6AA"],
    )
    assert errors == []
    assert values["email"] == "Alex@example.org" and values["mobile"] == "+447700900123"
    assert values["name"] == "Alex Smith"
    assert values["channel_order"] == (Channel.SMS, Channel.EMAIL)
    assert values["address"] == ("10 High Street", "Stratford", "CV37 6AA")
    assert check(email="", mobile=" ")[0] == {"email": None, "mobile": None}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"email": "alex@"}, ("email", "invalid-email")),
        ({"email": "alex smith@example.org"}, ("email", "invalid-email")),
        ({"mobile": "01789 267575"}, ("mobile", "not-a-uk-mobile")),
        ({"mobile": "0770090012"}, ("mobile", "too-short")),
        ({"mobile": "+33 6 12 34 56 78"}, ("mobile", "not-a-uk-mobile")),
        ({"mobile": "07700 9OO123"}, ("mobile", "unknown-character")),
        ({"channel_order": ["fax"]}, ("channel_order", "unknown-channel")),
        ({"channel_order": ["sms", "sms"]}, ("channel_order", "duplicate-channel")),
        ({"channel_order": []}, ("channel_order", "required")),
        ({"topic_opt_outs": ["parking"]}, ("topic_opt_outs", "unknown-topic")),
        ({"topic_opt_outs": ["waste:pigeon"]}, ("topic_opt_outs", "unknown-channel")),
        ({"quiet_hours": ("9pm", "08:00")}, ("quiet_hours", "invalid-time")),
        ({"quiet_hours": ("08:00", "08:00")}, ("quiet_hours", "empty-window")),
        ({"language": "fr"}, ("language", "unsupported-language")),
        ({"accessible_format": "braille"}, ("accessible_format", "unknown-format")),
        ({"address": ["10 High Street"]}, ("address", "not-enough-address-lines")),
        ({"email_verified": True}, ("email_verified", "nothing-to-verify")),
        ({"name": "x" * 201}, ("name", "too-long")),
    ],
)
def test_each_broken_rule_names_field_and_rule(
    raw: dict[str, Any], expected: tuple[str, str]
) -> None:
    """One bad value, one error naming its field and rule, and the message never quotes it."""
    _, errors = check_customer(raw, topics=TOPICS, allow_fiction_range=True)
    assert [(e.field, e.rule) for e in errors] == [expected]
    for value in raw.values():
        if isinstance(value, str) and len(value) > 3:
            assert value not in str(errors[0]) and value not in errors[0].message


def test_drama_range_needs_permission() -> None:
    """Ofcom's drama numbers pass only where the settings allow them (tests, development)."""
    _, errors = check_customer({"mobile": "07700 900123"}, topics=TOPICS)
    assert [e.rule for e in errors] == ["invalid-number"]


def test_customer_ids_are_checked() -> None:
    """Customer ids are short, printable references that fit in a URL path."""
    assert customer_id("SDC-000123") == "SDC-000123"
    for bad in ("", "has space", "a/b", "x" * 101, "-leading"):
        with pytest.raises(FieldError):
            customer_id(bad)


SEVEN_LINES = [
    "Flat 2",
    "Mill House",
    "10 High St",
    "Old Town",
    "Shottery",
    "Stratford",
    "CV37 6AA",
]


def test_named_customer_with_seven_address_lines_is_refused() -> None:
    """The name is the letter's first address line, so a named 7-line address is too long."""
    _, errors = check(name="Alex Smith", address=SEVEN_LINES)
    assert errors == [("address", "too-many-address-lines")]
    assert check(address=SEVEN_LINES)[1] == []


def test_named_customer_with_two_address_lines_is_accepted() -> None:
    """Name + street + postcode makes the three lines every letter needs."""
    values, errors = check(name="Alex Smith", address=["10 High Street", "CV37 6AA"])
    assert errors == []
    assert values["address"] == ("10 High Street", "CV37 6AA")
