"""Countries and territories an address's last line may name, and their Royal Mail postage zone.

Matching ignores case, spaces, ``_ - ' ’ , . ( )`` and accents, reads ``&`` and ``+`` as "and",
reads "St" as "Saint", and ignores a leading "the", "yr" or "y" (so "The Netherlands" and
"Yr Almaen" resolve). A line with a digit in it is never a country. The Crown dependencies
resolve to the United Kingdom: they take UK postage and UK (JE, GY, IM) postcodes.

The names, ISO 3166-1 codes, Royal Mail postage zones and synonyms are data, in
``countries.csv`` beside this module, read once at import.
"""

from __future__ import annotations

import csv
import dataclasses
import re
import unicodedata
from importlib import resources
from typing import Literal, TypeAlias, cast

from notifier.recipients.invalid import InvalidDetail

Zone: TypeAlias = Literal["uk", "europe", "rest-of-world"]

UNITED_KINGDOM = "United Kingdom"
UNKNOWN_COUNTRY = "unknown-country"


@dataclasses.dataclass(frozen=True, slots=True)
class Country:
    """A country or territory by its canonical English name, with its postage zone."""

    name: str
    zone: Zone

    @property
    def is_uk(self) -> bool:
        return self.zone == "uk"


_IGNORED = re.compile(r"[\s_\-'’,.()]+")
_ARTICLES = frozenset({"the", "yr", "y"})
_ZONES: frozenset[str] = frozenset({"uk", "europe", "rest-of-world"})


def _key(text: str) -> str:
    """The form names are compared in: no accents, case, articles or punctuation."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    words = folded.replace("&", " and ").replace("+", " and ").split()
    words = ["saint" if word.rstrip(".") == "st" else word for word in words]
    if len(words) > 1 and words[0] in _ARTICLES:
        words = words[1:]
    return _IGNORED.sub("", " ".join(words))


def _index() -> dict[str, Country]:
    """Every name, code and synonym in ``countries.csv`` by its comparison key; read once."""
    data = resources.files("notifier.recipients").joinpath("countries.csv")
    text = data.read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    index: dict[str, Country] = {}
    for row in rows:
        zone = row["zone"]
        if zone not in _ZONES:
            raise ValueError(f"countries.csv: unknown zone {zone!r}")
        # Crown dependencies and the home nations all resolve to the one UK entry.
        name = UNITED_KINGDOM if zone == "uk" else row["name"]
        country = Country(name, cast(Zone, zone))
        for alias in (row["name"], row["alpha2"], row["alpha3"], *row["synonyms"].split(";")):
            if alias:
                index.setdefault(_key(alias), country)
    return index


_INDEX = _index()


class InvalidCountry(InvalidDetail):
    """A line that names no country or territory we know."""

    def __init__(self) -> None:
        super().__init__(UNKNOWN_COUNTRY, "Enter a country or territory, like France")


def normalise_country(text: str) -> Country:
    """The country or territory ``text`` names, by its canonical name, or InvalidCountry."""
    country = find_country(text)
    if country is None:
        raise InvalidCountry()
    return country


def find_country(line: str) -> Country | None:
    """The country or territory ``line`` names, or None (always None when it has a digit)."""
    if any(c.isdigit() for c in line):
        return None
    return _INDEX.get(_key(line))
