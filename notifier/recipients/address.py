"""Postal addresses: normalise what a resident gave us into the lines printed in the envelope
window, or say (by code, never by echoing the address) why a letter cannot be posted to it.

The rules are GOV.UK Notify's (notifications-utils ``PostalAddress``) and Royal Mail's clear
addressing guidance: 3 to 7 lines, the addressee's name being the first when there is one (Notify
prints the name as the first line of the address block, so it counts); lines 1 and 2 hold a letter
or digit; no line starts with a character the printer cannot take; the last line is a real UK
postcode, a country, or a BFPO number; "no fixed abode" is refused. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence

from notifier.recipients.countries import UNITED_KINGDOM, Country, Zone, find_country
from notifier.recipients.invalid import InvalidDetail
from notifier.recipients.postcode import format_postcode, is_real_uk_postcode

MIN_LINES = 3
MAX_LINES = 7
# The printer cannot take a line that starts with one of these (later in a line they are fine).
FORBIDDEN_FIRST_CHARACTERS = frozenset('@()=[]"\\/,<>~')

_WHITESPACE = re.compile(r"[\s\u180e\u200b\u200c\u200d\u2060\ufeff]+")
_SPACE_BEFORE_PUNCTUATION = re.compile(r" (?=[,.])")
_BFPO = re.compile(r"bfpo\s*(?:c/o\s*)?([0-9]+)", re.IGNORECASE)
_LETTER_OR_DIGIT = re.compile(r"[A-Za-z0-9]")
_NO_FIXED_ABODE = ("no fixed abode", "no fixed address")


class InvalidAddress(InvalidDetail):
    """An address a letter cannot be posted to; ``code`` is the reference's failure code."""


@dataclasses.dataclass(frozen=True, slots=True)
class PostalAddress:
    """An address as printed in the window: capitals, postcode, country or BFPO number last."""

    lines: tuple[str, ...]
    postcode: str | None
    international: bool
    bfpo: bool
    country: str = UNITED_KINGDOM
    zone: Zone = "uk"


def normalise_address(
    lines: Sequence[str] | str, *, name: str | None = None, allow_international: bool = True
) -> PostalAddress:
    """The printable block for ``name`` (its first line, when given) at ``lines`` (one string may
    also hold several, split on newlines), or InvalidAddress naming the rule it breaks.

    The one address check: the API, the CSV import, the event path and the letter renderer all
    call it with the name the letter will carry, so they count the same lines."""
    cleaned = _clean([lines] if isinstance(lines, str) else lines)
    if not cleaned:
        raise InvalidAddress("address-is-empty", "The address is empty")
    cleaned = [*_clean([name or ""]), *cleaned]
    if _is_no_fixed_abode(cleaned):
        raise InvalidAddress("no-fixed-abode-address", "The address is 'no fixed abode'")
    bfpo_number, rest = _take_bfpo(cleaned)
    country, rest = _take_country(rest)
    if bfpo_number is not None:
        address = _bfpo_address(rest, bfpo_number, country)
    elif country is not None and not country.is_uk:
        address = _international_address(rest, country, allow_international)
    else:
        address = _uk_address(rest, allow_international)
    _check_lines(address.lines)
    return address


def _clean(raw: Iterable[str]) -> list[str]:
    """Lines with whitespace collapsed, trailing commas gone and blank lines dropped."""
    out = []
    for chunk in raw:
        for line in chunk.splitlines():
            line = _WHITESPACE.sub(" ", line).strip()
            line = _SPACE_BEFORE_PUNCTUATION.sub("", line).rstrip(" ,")
            if line:
                out.append(line)
    return out


def _is_no_fixed_abode(lines: Sequence[str]) -> bool:
    if any(line.casefold() == "nfa" for line in lines):
        return True
    text = " ".join(lines).casefold()
    return any(phrase in text for phrase in _NO_FIXED_ABODE)


def _take_bfpo(lines: list[str]) -> tuple[str | None, list[str]]:
    """The BFPO number, if a line is one, and the lines without it."""
    for index, line in enumerate(lines):
        match = _BFPO.fullmatch(line)
        if match:
            return match.group(1), lines[:index] + lines[index + 1 :]
    return None, lines


def _take_country(lines: list[str]) -> tuple[Country | None, list[str]]:
    """A non-UK country on the last line, or every trailing line naming the UK, removed."""
    last = find_country(lines[-1]) if lines else None
    if last is None:
        return None, lines
    if not last.is_uk:
        return last, lines[:-1]
    while lines and (found := find_country(lines[-1])) is not None and found.is_uk:
        lines = lines[:-1]
    return last, lines


def _bfpo_address(rest: list[str], number: str, country: Country | None) -> PostalAddress:
    if country is not None:
        raise InvalidAddress(
            "has-country-for-bfpo-address", "A BFPO address must not have a country line"
        )
    postcode = None
    if rest and is_real_uk_postcode(rest[-1]):
        postcode = format_postcode(rest[-1])
        rest = rest[:-1]
    lines = [*_capitals(rest), *([postcode] if postcode else []), f"BFPO {number}"]
    return PostalAddress(tuple(lines), postcode, international=False, bfpo=True)


def _international_address(
    rest: list[str], country: Country, allow_international: bool
) -> PostalAddress:
    if not allow_international:
        raise InvalidAddress(
            "cant-send-international-letters", "This service cannot send letters abroad"
        )
    lines = (*_capitals(rest), country.name.upper())
    return PostalAddress(lines, None, True, False, country.name, country.zone)


def _uk_address(rest: list[str], allow_international: bool) -> PostalAddress:
    if not rest or not is_real_uk_postcode(rest[-1]):
        # The line counts come first: a two-line address is better reported as too short.
        _check_count(rest)
        if allow_international:
            raise InvalidAddress(
                "not-a-real-uk-postcode-or-country",
                "The last line must be a real UK postcode or a country",
            )
        raise InvalidAddress("not-a-real-uk-postcode", "The last line must be a real UK postcode")
    postcode = format_postcode(rest[-1])
    return PostalAddress((*_capitals(rest[:-1]), postcode), postcode, False, False)


def _check_count(lines: Sequence[str]) -> None:
    if len(lines) < MIN_LINES:
        raise InvalidAddress(
            "not-enough-address-lines", f"The address must have at least {MIN_LINES} lines"
        )
    if len(lines) > MAX_LINES:
        raise InvalidAddress(
            "too-many-address-lines", f"The address must have at most {MAX_LINES} lines"
        )


def _check_lines(lines: Sequence[str]) -> None:
    _check_count(lines)
    if not all(_LETTER_OR_DIGIT.search(line) for line in lines[:2]):
        raise InvalidAddress(
            "invalid-address-line-1-or-2",
            "Address lines 1 and 2 must each contain a letter or a digit",
        )
    if any(line[0] in FORBIDDEN_FIRST_CHARACTERS for line in lines):
        raise InvalidAddress(
            "invalid-char-in-address",
            'Address lines must not start with any of @ ( ) = [ ] " \\ / , < > ~',
        )


def _capitals(lines: Iterable[str]) -> list[str]:
    return [line.upper() for line in lines]
