"""Printed letters: PDF rendering for window envelopes (the print hand-over is ``printhouse``)."""

from notifier.letters.render import (
    LetterError,
    LetterTooLong,
    RenderedLetter,
    page_count,
    render_letter,
)

__all__ = ["LetterError", "LetterTooLong", "RenderedLetter", "page_count", "render_letter"]
