"""Email address rules: one function that validates and normalises, never quoting the address."""

from __future__ import annotations

import pytest

from notifier.recipients.email import MAX_LENGTH, InvalidEmail, normalise_email
from notifier.recipients.invalid import InvalidDetail


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("alex@example.org", "alex@example.org"),
        ("Alex@Example.ORG", "Alex@example.org"),
        ("  alex.smith+rates@example.org\u00a0", "alex.smith+rates@example.org"),
        ("alex\u200b@example.org", "alex@example.org"),
        ("alex@bücher.de", "alex@xn--bcher-kva.de"),
        ("o'neil@council.gov.uk", "o'neil@council.gov.uk"),
    ],
)
def test_good_addresses_come_back_normalised(given: str, normalised: str) -> None:
    """Whitespace and invisible characters go, the domain is lower case and in A-labels."""
    assert normalise_email(given) == normalised


@pytest.mark.parametrize(
    "given",
    [
        "",
        "   ",
        "alex",
        "alex@",
        "@example.org",
        "alex@@example.org",
        "alex smith@example.org",
        "Alex <alex@example.org>",
        "alex@example",
        "alex..smith@example.org",
        "alèx@example.org",
        '"alex"@example.org',
        "alex@[192.0.2.1]",
        "alex@exa_mple.org",
        "alex@example.org\r\nBcc: x@y.org",
        "a" * 65 + "@example.org",
        "alex@" + "a" * MAX_LENGTH + ".org",
    ],
)
def test_unusable_addresses_raise_invalid_email(given: str) -> None:
    """Each address that breaks a rule raises InvalidEmail with the invalid-email code."""
    with pytest.raises(InvalidEmail) as caught:
        normalise_email(given)
    assert caught.value.code == "invalid-email"
    assert isinstance(caught.value, InvalidDetail) and isinstance(caught.value, ValueError)


def test_error_never_quotes_the_address() -> None:
    """Neither the message nor the text of the error holds any part of the address."""
    with pytest.raises(InvalidEmail) as caught:
        normalise_email("zebedee@magic-roundabout")
    assert "zebedee" not in str(caught.value) and "roundabout" not in caught.value.message
    assert caught.value.message == (
        "Enter an email address in the correct format, like name@example.com"
    )
