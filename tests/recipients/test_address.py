"""Postal address rules (letters.md §4-5), one row per rule."""

from __future__ import annotations

import pytest

from notifier.recipients.address import InvalidAddress, PostalAddress, normalise_address
from notifier.recipients.countries import Country, InvalidCountry, find_country, normalise_country
from notifier.recipients.postcode import (
    InvalidPostcode,
    format_postcode,
    is_real_uk_postcode,
    normalise_postcode,
)


def _code(lines: list[str], *, name: str | None = None, allow_international: bool = True) -> str:
    with pytest.raises(InvalidAddress) as caught:
        normalise_address(lines, name=name, allow_international=allow_international)
    return caught.value.code


def test_uk_address_is_printed_in_capitals_with_postcode_last() -> None:
    """A UK address comes back in capitals with the postcode formatted on the last line."""
    address = normalise_address(["10 High Street", "Stratford-upon-Avon", "cv37 6hx"])
    assert address == PostalAddress(
        ("10 HIGH STREET", "STRATFORD-UPON-AVON", "CV37 6HX"), "CV37 6HX", False, False
    )
    assert address.zone == "uk"
    assert address.country == "United Kingdom"


def test_whitespace_and_trailing_commas_are_normalised() -> None:
    """NBSP, tabs, zero-width and repeated spaces, spaces before commas, trailing commas go."""
    address = normalise_address(
        ["  Flat\u00a02 ,", "10  High\tStreet,", "Leamington Spa , ", "CV32\u200b4AT"]
    )
    assert address.lines == ("FLAT 2", "10 HIGH STREET", "LEAMINGTON SPA", "CV32 4AT")


def test_blank_lines_are_dropped_and_do_not_count() -> None:
    """Blank lines between filled lines are removed before the lines are counted."""
    address = normalise_address(["1 Mill Lane", "", "  ", "Warwick", "\u200b", "CV34 4AB"])
    assert address.lines == ("1 MILL LANE", "WARWICK", "CV34 4AB")


def test_one_string_is_split_on_newlines() -> None:
    """A single string holding the whole address is read as one line per newline."""
    address = normalise_address("1 Mill Lane\r\nWarwick\nCV34 4AB")
    assert address.lines == ("1 MILL LANE", "WARWICK", "CV34 4AB")


@pytest.mark.parametrize(
    ("given", "printed"),
    [
        ("cv376hx", "CV37 6HX"),
        ("C V 3 7  6 H X", "CV37 6HX"),
        ("b1 1aa", "B1 1AA"),
        ("W1A 1AA", "W1A 1AA"),
        ("EC1A 1BB", "EC1A 1BB"),
        ("M60 1NW", "M60 1NW"),
        ("CR2 6XH", "CR2 6XH"),
        ("DN55 1PT", "DN55 1PT"),
        ("JE2 3AB", "JE2 3AB"),
        ("BX1 1LT", "BX1 1LT"),
    ],
)
def test_real_postcodes_of_every_shape_are_accepted(given: str, printed: str) -> None:
    """Each of the six postcode shapes is accepted and printed with one space."""
    assert is_real_uk_postcode(given)
    assert format_postcode(given) == printed
    assert normalise_address(["1 A Street", "Town", given]).postcode == printed


@pytest.mark.parametrize(
    "postcode",
    [
        "NF1 1AA",  # no such area
        "CV37 6CX",  # C is never an inward letter
        "CV37 6IA",  # nor is I
        "GIR 0AA",  # Girobank: listed area, wrong structure
        "GX11 1AA",  # Gibraltar
        "CV37",  # outward code only
        "CV37 6HXX",
        "1V37 6HX",
        "CV37 AHX",
    ],
)
def test_unreal_postcodes_are_rejected(postcode: str) -> None:
    """Unknown areas, barred inward letters and wrong shapes are not real UK postcodes."""
    assert not is_real_uk_postcode(postcode)
    assert _code(["1 A Street", "Town", postcode]) == "not-a-real-uk-postcode-or-country"


def test_without_international_permission_the_last_line_must_be_a_postcode() -> None:
    """A service that cannot send abroad reports a bad last line as not a UK postcode."""
    lines = ["1 A Street", "Town", "Nowhere Land"]
    assert _code(lines, allow_international=False) == "not-a-real-uk-postcode"


def test_trailing_uk_country_lines_are_removed() -> None:
    """The lines "England" and "United Kingdom" after the postcode are dropped."""
    address = normalise_address(["1 A Street", "Town", "CV37 6HX", "England", "United Kingdom"])
    assert address.lines == ("1 A STREET", "TOWN", "CV37 6HX")
    assert not address.international


def test_removed_uk_country_lines_do_not_count_towards_three() -> None:
    """Two real lines plus "UK" is still too short."""
    assert _code(["1 A Street", "CV37 6HX", "UK"]) == "not-enough-address-lines"


def test_crown_dependency_is_uk_and_needs_a_postcode() -> None:
    """Jersey resolves to the UK: the line goes, the JE postcode is kept, UK postage applies."""
    address = normalise_address(["1 King Street", "St Helier", "JE2 3AB", "Jersey"])
    assert address.lines == ("1 KING STREET", "ST HELIER", "JE2 3AB")
    assert address.zone == "uk"
    no_postcode = ["Flat 1", "1 King Street", "St Helier", "Jersey"]
    assert _code(no_postcode) == "not-a-real-uk-postcode-or-country"


@pytest.mark.parametrize(
    ("country_line", "name", "zone"),
    [
        ("france", "France", "europe"),
        ("The Netherlands", "Netherlands", "europe"),
        ("Yr Almaen", "Germany", "europe"),
        ("Bosnia & Herzegovina", "Bosnia and Herzegovina", "europe"),
        ("USA", "United States", "rest-of-world"),
        ("Côte d’Ivoire", "Ivory Coast", "rest-of-world"),
        ("St. Lucia", "Saint Lucia", "rest-of-world"),
        ("gibraltar", "Gibraltar", "europe"),
    ],
)
def test_international_address_ends_with_the_country_in_capitals(
    country_line: str, name: str, zone: str
) -> None:
    """A non-UK country last line is resolved to its English name, in capitals, and zoned."""
    address = normalise_address(["1 Rue de Rivoli", "75001 Paris", country_line])
    assert address.lines == ("1 RUE DE RIVOLI", "75001 PARIS", name.upper())
    assert address.international
    assert address.postcode is None
    assert (address.country, address.zone) == (name, zone)


def test_international_address_needs_permission() -> None:
    """Without the international permission a foreign address is refused with its own code."""
    lines = ["1 Rue de Rivoli", "75001 Paris", "France"]
    assert _code(lines, allow_international=False) == "cant-send-international-letters"


def test_a_line_with_a_digit_is_never_a_country() -> None:
    """Digits rule a line out as a country name."""
    assert find_country("France 2") is None
    assert find_country("France") is not None


@pytest.mark.parametrize(
    ("lines", "printed", "postcode"),
    [
        (["Cpl A Smith", "1 Regt", "BFPO 123"], ("CPL A SMITH", "1 REGT", "BFPO 123"), None),
        (["Cpl A Smith", "1 Regt", "bfpo123"], ("CPL A SMITH", "1 REGT", "BFPO 123"), None),
        (
            ["Sgt B Jones", "1 Regiment", "bfpo c/o 801", "bf1 4aa"],
            ("SGT B JONES", "1 REGIMENT", "BF1 4AA", "BFPO 801"),
            "BF1 4AA",
        ),
    ],
)
def test_bfpo_number_goes_last_after_any_bf_postcode(
    lines: list[str], printed: tuple[str, ...], postcode: str | None
) -> None:
    """A BFPO line is recognised in any spacing or case and printed last as "BFPO <n>"."""
    address = normalise_address(lines)
    assert address.lines == printed
    assert address.bfpo
    assert address.postcode == postcode
    assert not address.international


@pytest.mark.parametrize("country", ["Germany", "United Kingdom"])
def test_bfpo_address_with_a_country_is_rejected(country: str) -> None:
    """Any country line on a BFPO address makes it invalid."""
    assert _code(["Cpl A Smith", "1 Regiment", "BFPO 123", country]) == (
        "has-country-for-bfpo-address"
    )


@pytest.mark.parametrize(
    "lines",
    [
        ["J Smith", "NFA", "Stratford-upon-Avon", "CV37 6HX"],
        ["J Smith", "nfa,", "Stratford-upon-Avon", "CV37 6HX"],
        ["J Smith", "No Fixed Abode", "Stratford-upon-Avon", "CV37 6HX"],
        ["J Smith", "of no fixed address", "Stratford-upon-Avon", "CV37 6HX"],
    ],
)
def test_no_fixed_abode_is_rejected(lines: list[str]) -> None:
    """NFA (exactly, any case) and the phrases "no fixed abode/address" are refused."""
    assert _code(lines) == "no-fixed-abode-address"


def test_nfa_inside_a_longer_line_is_allowed() -> None:
    """Only a line that is exactly NFA counts; NFA as part of a word is fine."""
    assert normalise_address(["NFA Holdings Ltd", "1 A Street", "Town", "CV37 6HX"])


@pytest.mark.parametrize("lines", [[], [""], ["  ", "\u00a0", ","]])
def test_empty_address_is_rejected(lines: list[str]) -> None:
    """No lines, or only blank ones, is an empty address."""
    assert _code(lines) == "address-is-empty"


def test_seven_lines_are_accepted_and_eight_are_not() -> None:
    """The limit is 7 lines including the postcode line."""
    six = [f"Line {n}" for n in range(1, 7)]
    assert len(normalise_address([*six, "CV37 6HX"]).lines) == 7
    assert _code([*six, "Line 7", "CV37 6HX"]) == "too-many-address-lines"


def test_two_lines_are_not_enough() -> None:
    """The minimum is 3 lines including the postcode line."""
    assert _code(["1 A Street", "CV37 6HX"]) == "not-enough-address-lines"


@pytest.mark.parametrize("index", [0, 1])
def test_lines_one_and_two_need_a_letter_or_digit(index: int) -> None:
    """A punctuation-only first or second line is refused."""
    lines = ["1 A Street", "Town", "Shire", "CV37 6HX"]
    lines[index] = "-- .."
    assert _code(lines) == "invalid-address-line-1-or-2"


def test_punctuation_only_third_line_is_allowed() -> None:
    """The letter-or-digit rule is for lines 1 and 2 only."""
    assert normalise_address(["1 A Street", "Town", "-", "CV37 6HX"]).lines[2] == "-"


@pytest.mark.parametrize("char", list('@()=[]"\\/,<>~'))
def test_a_line_may_not_start_with_a_printer_forbidden_character(char: str) -> None:
    """Each forbidden first character is refused at the start of any line."""
    assert _code(["1 A Street", f"{char}Town", "CV37 6HX"]) == "invalid-char-in-address"


def test_forbidden_characters_later_in_a_line_are_fine() -> None:
    """Only the first character of a line is checked."""
    address = normalise_address(["Flat 2 (rear)", "1 A Street / B Road", "CV37 6HX"])
    assert address.lines[0] == "FLAT 2 (REAR)"


def test_error_messages_never_echo_the_address() -> None:
    """No rule's message repeats any part of the address it refused."""
    cases = [
        ["Zebedee Quuxley", "NFA", "CV37 6HX"],
        ["Zebedee Quuxley", "Xylophone Row", "Qwertyton"],
        ["Zebedee Quuxley", "CV37 6HX"],
        ["Zebedee Quuxley", "(Xylophone Row", "CV37 6HX"],
        ["Zebedee Quuxley", "Xylophone Row", "BFPO 123", "Germany"],
    ]
    for lines in cases:
        with pytest.raises(InvalidAddress) as caught:
            normalise_address(lines)
        text = str(caught.value).casefold()
        assert "zebedee" not in text and "xylophone" not in text and "qwerty" not in text


SEVEN_LINES = [
    "Flat 2",
    "Mill House",
    "10 High St",
    "Old Town",
    "Shottery",
    "Stratford",
    "CV37 6AA",
]


def test_the_name_is_the_first_line_and_counts() -> None:
    """With a name, the block starts with it in capitals, and it is one of the 3 to 7 lines."""
    address = normalise_address(["10 High Street", "CV37 6AA"], name="Alex Smith")
    assert address.lines == ("ALEX SMITH", "10 HIGH STREET", "CV37 6AA")


def test_a_named_seven_line_address_has_too_many_lines() -> None:
    """Seven address lines are fine alone and one too many with the name on top."""
    assert len(normalise_address(SEVEN_LINES).lines) == 7
    assert _code(SEVEN_LINES, name="Alex Smith") == "too-many-address-lines"


def test_a_name_without_an_address_is_still_an_empty_address() -> None:
    """A name alone is not an address: the code says the address is empty."""
    assert _code([], name="Alex Smith") == "address-is-empty"


def test_normalise_postcode_validates_and_formats() -> None:
    """A real postcode comes back in print format; anything else raises with a rule code."""
    assert normalise_postcode(" cv37\u00a06hx ") == "CV37 6HX"
    with pytest.raises(InvalidPostcode) as caught:
        normalise_postcode("NF1 1AA")
    assert (caught.value.code, "NF1" in str(caught.value)) == ("not-a-real-uk-postcode", False)


def test_normalise_country_resolves_or_raises() -> None:
    """A country name resolves to its canonical entry; an unknown one raises unknown-country."""
    assert normalise_country("yr almaen") == Country("Germany", "europe")
    assert normalise_country("Jersey") == Country("United Kingdom", "uk")
    with pytest.raises(InvalidCountry) as caught:
        normalise_country("Narnia")
    assert (caught.value.code, "Narnia" in str(caught.value)) == ("unknown-country", False)
