"""Printed letters: postal address rules, and PDF rendering for window envelopes."""

from notifier.letters.address import InvalidAddress, PostalAddress, normalise_address
from notifier.letters.render import (
    LetterError,
    LetterTooLong,
    RenderedLetter,
    page_count,
    render_letter,
)

__all__ = [
    "InvalidAddress",
    "LetterError",
    "LetterTooLong",
    "PostalAddress",
    "RenderedLetter",
    "normalise_address",
    "page_count",
    "render_letter",
]
