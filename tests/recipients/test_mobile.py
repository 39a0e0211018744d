"""UK mobile number normalisation and sender-id rules of sms.md §6-7."""

from __future__ import annotations

import pytest

from notifier.recipients.invalid import InvalidDetail
from notifier.recipients.mobile import (
    INVALID_NUMBER,
    MESSAGES,
    NOT_A_UK_MOBILE,
    TOO_LONG,
    TOO_SHORT,
    UNKNOWN_CHARACTER,
    UNSUPPORTED_COUNTRY_CODE,
    InvalidMobile,
    is_messaging_service_sid,
    normalise_uk_mobile,
    validate_sender_id,
)

VALID_ROWS = [
    ("national format", "07400 123456", "+447400123456"),
    ("no spaces", "07400123456", "+447400123456"),
    ("E.164", "+447400123456", "+447400123456"),
    ("international with trunk zero", "+44 (0)7400 123456", "+447400123456"),
    ("00 international prefix", "0044 7400 123456", "+447400123456"),
    ("spreadsheet dropped the plus", "447400123456", "+447400123456"),
    ("spreadsheet dropped the zero", "7400123456", "+447400123456"),
    ("stray zero before +44", "0+44(0)7400123456", "+447400123456"),
    ("stray plus before 07", "+07400123456", "+447400123456"),
    ("brackets and hyphens", "(07400) 123-456", "+447400123456"),
    ("NBSP and zero-width spaces", "07400\u00a0123\u200b456\ufeff", "+447400123456"),
    ("narrow NBSP and word joiner", "07400\u202f123\u2060456", "+447400123456"),
    ("tabs and newlines", "\t07400\n123456 ", "+447400123456"),
    ("071 mobile range", "07123 456789", "+447123456789"),
    ("079 mobile range", "07911 123456", "+447911123456"),
    ("Isle of Man mobile 07624", "07624 123456", "+447624123456"),
    ("Jersey mobile", "07797 123456", "+447797123456"),
]

INVALID_ROWS = [
    ("empty", "", TOO_SHORT),
    ("only whitespace", "   ", TOO_SHORT),
    ("only punctuation", "( ) - +", TOO_SHORT),
    ("one digit short", "07400 12345", TOO_SHORT),
    ("one digit long", "07400 1234567", TOO_LONG),
    ("letters", "07400 12345a", UNKNOWN_CHARACTER),
    ("extension", "07400 123456 x12", UNKNOWN_CHARACTER),
    ("full stop", "07400.123456", UNKNOWN_CHARACTER),
    ("non-ASCII digits", "٠٧٤٠٠١٢٣٤٥٦", UNKNOWN_CHARACTER),
    ("London landline", "020 7946 0000", NOT_A_UK_MOBILE),
    ("geographic landline", "01789 260000", NOT_A_UK_MOBILE),
    ("premium rate", "0900 123 4567", NOT_A_UK_MOBILE),
    ("freephone", "0800 123 4567", NOT_A_UK_MOBILE),
    ("070 personal number", "07012 345678", NOT_A_UK_MOBILE),
    ("076 pager", "07600 123456", NOT_A_UK_MOBILE),
    ("drama range without the flag", "07700 900123", INVALID_NUMBER),
    ("unassigned mobile range", "07700 901000", INVALID_NUMBER),
    ("US number", "+1 202 555 0123", NOT_A_UK_MOBILE),
    ("Irish mobile with 00", "00353 85 123 4567", NOT_A_UK_MOBILE),
    ("Russian number starting +7", "+7 912 345 67 89", NOT_A_UK_MOBILE),
    ("unknown country code", "+999 123 456 789", UNSUPPORTED_COUNTRY_CODE),
]


@pytest.mark.parametrize(("case", "raw", "expected"), VALID_ROWS, ids=lambda v: v)
def test_valid_mobile_is_normalised_to_e164(case: str, raw: str, expected: str) -> None:
    """Every accepted input form becomes the same E.164 number."""
    assert normalise_uk_mobile(raw) == expected


@pytest.mark.parametrize(("case", "raw", "code"), INVALID_ROWS, ids=lambda v: v)
def test_invalid_mobile_raises_its_code(case: str, raw: str, code: str) -> None:
    """Each rejected input raises InvalidMobile with the reference code."""
    with pytest.raises(InvalidMobile) as caught:
        normalise_uk_mobile(raw)
    assert caught.value.code == code


@pytest.mark.parametrize("raw", ["07700 900000", "07700 900123", "07700 900999", "+447700900500"])
def test_drama_range_accepted_with_flag(raw: str) -> None:
    """The whole Ofcom drama range passes when the fiction range is allowed."""
    digits = "".join(c for c in raw if c.isdigit())[-10:]
    assert normalise_uk_mobile(raw, allow_fiction_range=True) == f"+44{digits}"


@pytest.mark.parametrize("raw", ["07700 901000", "07700 909999", "07700 990000"])
def test_drama_range_is_not_widened(raw: str) -> None:
    """Unassigned numbers beside 07700 900000-900999 stay invalid even with the flag."""
    with pytest.raises(InvalidMobile) as caught:
        normalise_uk_mobile(raw, allow_fiction_range=True)
    assert caught.value.code == INVALID_NUMBER


def test_fiction_flag_does_not_admit_other_invalid_numbers() -> None:
    """The flag relaxes only the drama range, not landlines or lengths."""
    for raw, code in [("020 7946 0000", NOT_A_UK_MOBILE), ("07700 90012", TOO_SHORT)]:
        with pytest.raises(InvalidMobile) as caught:
            normalise_uk_mobile(raw, allow_fiction_range=True)
        assert caught.value.code == code


def test_invalid_mobile_is_a_value_error_with_code_and_text_only() -> None:
    """The exception text is the code and the reference wording, never the number."""
    with pytest.raises(ValueError, match=TOO_LONG) as caught:
        normalise_uk_mobile("07400 987654321")
    assert str(caught.value) == f"{TOO_LONG}: {MESSAGES[TOO_LONG]}"
    assert "987654321" not in repr(caught.value)


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_every_code_has_reference_text(code: str) -> None:
    """All six codes carry their wording, and the wording never quotes a number."""
    error = InvalidMobile(code)
    assert error.code == code
    assert str(error).startswith(f"{code}: ")


SENDER_ROWS = [
    ("council name", "StratfordDC", "StratfordDC"),
    ("with a space", "Warwick DC", "Warwick DC"),
    ("three characters", "SDC", "SDC"),
    ("eleven characters", "A" * 11, "A" * 11),
    ("letters and digits", "Council24", "Council24"),
    ("surrounding whitespace stripped", "  WDC  ", "WDC"),
]

BAD_SENDER_ROWS = [
    ("two characters", "DC", "3 to 11"),
    ("twelve characters", "A" * 12, "3 to 11"),
    ("hyphen", "Warwick-DC", "3 to 11"),
    ("ampersand", "S&W", "3 to 11"),
    ("non-ASCII letter", "Cyngor Môn", "3 to 11"),
    ("digits only", "12345", "at least one letter"),
    ("generic info", "INFO", "generic"),
    ("generic verify", "Verify", "generic"),
    ("generic alert", "alert", "generic"),
    ("starts 00", "00Council", "start with 00"),
]


@pytest.mark.parametrize(("case", "sender", "expected"), SENDER_ROWS, ids=lambda v: v)
def test_valid_sender_id(case: str, sender: str, expected: str) -> None:
    """Sender ids within the safe intersection of the reference and Twilio rules pass."""
    assert validate_sender_id(sender) == expected


@pytest.mark.parametrize(("case", "sender", "rule"), BAD_SENDER_ROWS, ids=lambda v: v)
def test_invalid_sender_id_names_the_rule(case: str, sender: str, rule: str) -> None:
    """Each broken sender-id rule raises a ValueError naming that rule."""
    with pytest.raises(ValueError, match=rule):
        validate_sender_id(sender)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("MG" + "0123456789abcdef" * 2, True),
        ("MG" + "0123456789ABCDEF" * 2, True),
        ("MG" + "0" * 31, False),
        ("MG" + "0" * 33, False),
        ("MG" + "g" * 32, False),
        ("AC" + "0" * 32, False),
        ("StratfordDC", False),
    ],
)
def test_messaging_service_sid(value: str, expected: bool) -> None:
    """Only MG followed by exactly 32 hex digits is a Messaging Service SID."""
    assert is_messaging_service_sid(value) is expected


def test_codes_are_the_rule_codes_the_api_and_reasons_use() -> None:
    """Every code is kebab-case, and the error is an InvalidDetail with the Notify wording."""
    assert sorted(MESSAGES) == [
        "invalid-number",
        "not-a-uk-mobile",
        "too-long",
        "too-short",
        "unknown-character",
        "unsupported-country-code",
    ]
    with pytest.raises(InvalidDetail) as caught:
        normalise_uk_mobile("020 7946 0991")
    assert (caught.value.code, caught.value.message) == (NOT_A_UK_MOBILE, MESSAGES[NOT_A_UK_MOBILE])
