"""The letter typeface (Liberation Sans, SIL OFL 1.1, shipped in ``fonts/``), registered with
ReportLab once per process so that every letter embeds a subset of it and no standard PDF font.
"""

from __future__ import annotations

import functools
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

REGULAR = "NotifierSans"
BOLD = "NotifierSans-Bold"
_FILES = {REGULAR: "LiberationSans-Regular.ttf", BOLD: "LiberationSans-Bold.ttf"}
FONT_DIR = Path(__file__).parent / "fonts"


@functools.cache
def register() -> frozenset[str]:
    """Register both weights (first call only); the characters both weights can draw."""
    coverage: frozenset[str] | None = None
    for name, file_name in _FILES.items():
        font = TTFont(name, str(FONT_DIR / file_name))
        pdfmetrics.registerFont(font)
        drawable = frozenset(chr(code) for code in font.face.charToGlyph)
        coverage = drawable if coverage is None else coverage & drawable
    assert coverage is not None
    return coverage


def text_width(text: str, font: str, size: float) -> float:
    """The advance width of ``text`` in points."""
    return float(pdfmetrics.stringWidth(text, font, size))


def undrawable(text: str) -> frozenset[str]:
    """The characters of ``text`` that the typeface has no glyph for (line breaks aside)."""
    return frozenset(text) - register() - {"\n"}
