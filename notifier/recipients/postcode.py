"""UK postcodes: whether a string is a real one (format and area), and how it is printed.

This proves the shape and the postcode area only; whether a postcode exists needs Royal Mail's
PAF or the ONS Postcode Directory.
"""

from __future__ import annotations

import re

from notifier.recipients.invalid import InvalidDetail

# The 127 UK postcode areas, including BF (BFPO), BX (non-geographic) and the Crown
# dependencies (GY, JE, IM). GIR is an area, but the structural rule still rejects GIR 0AA.
_AREA_LIST = """
    AB AL B BA BB BD BF BH BL BN BR BS BT BX CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL DN DT
    DY E EC EH EN EX FK FY G GIR GL GU GY HA HD HG HP HR HS HU HX IG IM IP IV JE KA KT KW KY L LA LD
    LE LL LN LS LU M ME MK ML N NE NG NN NP NR NW OL OX PA PE PH PL PO PR RG RH RM S SA SE SG SK
    SL SM SN SO SP SR SS ST SW SY TA TD TF TN TQ TR TS TW UB W WA WC WD WF WN WR WS WV YO ZE
"""
AREAS = frozenset(_AREA_LIST.split())

# Longest areas first so that the alternation prefers "BA" over "B" before backtracking.
_AREA_PATTERN = "|".join(sorted(AREAS, key=len, reverse=True))
# Area, district digit, optional digit or letter, then the inward code: a digit and two letters
# that are never C, I, K, M, O or V.
_POSTCODE = re.compile(rf"(?:{_AREA_PATTERN})[0-9][0-9A-Z]?[0-9][ABD-HJLNP-UW-Z]{{2}}")
_WHITESPACE = re.compile(r"[\s\u180e\u200b\u200c\u200d\u2060\ufeff]+")


NOT_A_REAL_UK_POSTCODE = "not-a-real-uk-postcode"


class InvalidPostcode(InvalidDetail):
    """Not a UK postcode with a real area."""

    def __init__(self) -> None:
        super().__init__(NOT_A_REAL_UK_POSTCODE, "Enter a real UK postcode, like CV37 6HX")


def normalise_postcode(text: str) -> str:
    """``text`` as printed (``CV37 6HX``) when it is a real UK postcode, else InvalidPostcode."""
    if not is_real_uk_postcode(text):
        raise InvalidPostcode()
    return format_postcode(text)


def _compact(text: str) -> str:
    """``text`` with every kind of whitespace removed, in capitals."""
    return _WHITESPACE.sub("", text).upper()


def is_real_uk_postcode(text: str) -> bool:
    """Whether ``text`` is a UK postcode with a real area, ignoring case and spacing."""
    return _POSTCODE.fullmatch(_compact(text)) is not None


def format_postcode(text: str) -> str:
    """A postcode as printed: capitals, one space before the inward code (``CV37 6HX``)."""
    compact = _compact(text)
    return f"{compact[:-3]} {compact[-3:]}"
