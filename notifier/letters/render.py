"""Letters as print-ready PDF: A4 portrait, the address in the envelope window, every font
embedded, at most 10 pages. The one module that draws with ReportLab.

    render_letter(message) -> RenderedLetter      or InvalidAddress, LetterError, LetterTooLong
    page_count(message) -> int                    layout only, nothing drawn
"""

from __future__ import annotations

import dataclasses
import functools
import io
import re
from collections.abc import Iterable

from reportlab.lib.colors import Color, HexColor, white
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

from notifier.errors import ConfigurationError, PermanentFailure
from notifier.letters import fonts
from notifier.letters.geometry import FOOTER_RIGHT, LOGO, MAX_PAGES, PAGE_HEIGHT, PAGE_WIDTH
from notifier.letters.layout import (
    Footer,
    LetterLayout,
    Placed,
    footer_text,
    layout_letter,
    page_label,
)
from notifier.letters.letterhead import layout_address, layout_contact, layout_logo_text
from notifier.messages import LetterMessage, ListBlock
from notifier.model import Council
from notifier.recipients.address import InvalidAddress, PostalAddress, normalise_address

_HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


class LetterError(ValueError):
    """A letter that cannot be printed as it stands; ``code`` is a short reason code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class LetterTooLong(LetterError):
    """The letter needs more pages than the printer takes."""

    def __init__(self, pages: int) -> None:
        super().__init__("letter-too-long", f"{pages} pages; the most is {MAX_PAGES}")
        self.pages = pages


@dataclasses.dataclass(frozen=True, slots=True)
class RenderedLetter:
    """A letter's PDF, its page count and the address it is printed for."""

    pdf: bytes
    pages: int
    address: PostalAddress

    @property
    def sheets(self) -> int:
        """Sheets of paper, printed on both sides."""
        return (self.pages + 1) // 2


def page_count(message: LetterMessage) -> int:
    """How many pages the letter takes, without drawing it (the address is not checked)."""
    return len(layout_letter(message).pages)


def render_for_post(message: LetterMessage) -> RenderedLetter:
    """``render_letter`` for a channel: an address that cannot be posted to, or a letter that
    cannot be printed, is a PermanentFailure (no retry changes it; another channel may still
    reach the resident). Codes only: the address never reaches the failure's text."""
    try:
        return render_letter(message)
    except InvalidAddress as exc:
        raise PermanentFailure("invalid-address", exc.code) from None
    except LetterError as exc:
        raise PermanentFailure(exc.code) from None


def render_letter(message: LetterMessage, *, allow_international: bool = True) -> RenderedLetter:
    """The letter as PDF; InvalidAddress when it cannot be posted to its address (the name, when
    given, is its first line), LetterError (LetterTooLong) when it cannot be printed."""
    fonts.register()
    address = normalise_address(
        message.address, name=message.name, allow_international=allow_international
    )
    address_lines = layout_address(address)
    _check_drawable(message)
    layout = layout_letter(message)
    if len(layout.pages) > MAX_PAGES:
        raise LetterTooLong(len(layout.pages))
    return RenderedLetter(_draw(message, layout, address_lines), len(layout.pages), address)


def _check_drawable(message: LetterMessage) -> None:
    texts: list[str] = [message.title, message.reference, footer_text(message)]
    for block in message.blocks:
        texts.extend(block.items if isinstance(block, ListBlock) else (block.text,))
    missing = fonts.undrawable("".join(texts))
    if missing:
        codes = ", ".join(sorted(f"U+{ord(char):04X}" for char in missing))
        raise LetterError("unprintable-character", f"the font has no glyph for {codes}")


def _draw(message: LetterMessage, layout: LetterLayout, address: tuple[Placed, ...]) -> bytes:
    buffer = io.BytesIO()
    # invariant: no timestamp or random id, so the same letter gives the same bytes (and hash).
    # initialFontName: otherwise ReportLab adds an unembedded Helvetica to every page.
    canvas = Canvas(
        buffer,
        pagesize=(PAGE_WIDTH, PAGE_HEIGHT),
        invariant=1,
        pageCompression=1,
        initialFontName=fonts.REGULAR,
        initialFontSize=10,
    )
    canvas.setCreator("notifier")
    canvas.setAuthor(message.council.name)
    total = len(layout.pages)
    for number, body in enumerate(layout.pages, 1):
        if number == 1:
            _draw_logo(canvas, message.council)
            _draw_text(canvas, address)
            _draw_text(canvas, layout_contact(message))
        _draw_text(canvas, body)
        _draw_footer(canvas, layout.footer, number, total)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _draw_text(canvas: Canvas, lines: Iterable[Placed]) -> None:
    font: tuple[str, float] | None = None
    for line in lines:
        if font != (line.font, line.size):
            font = (line.font, line.size)
            canvas.setFont(*font)
        canvas.drawString(line.x, PAGE_HEIGHT - line.baseline, line.text)


def _draw_footer(canvas: Canvas, footer: Footer, number: int, total: int) -> None:
    _draw_text(canvas, footer.lines)
    canvas.drawRightString(
        FOOTER_RIGHT, PAGE_HEIGHT - footer.label_baseline, page_label(number, total)
    )


def _draw_logo(canvas: Canvas, council: Council) -> None:
    bottom = PAGE_HEIGHT - LOGO.bottom
    if council.logo_file:
        canvas.drawImage(
            _logo_image(council.code, council.logo_file),
            LOGO.left, bottom, LOGO.width, LOGO.height,
            preserveAspectRatio=True, anchor="w", mask="auto",
        )  # fmt: skip
        return
    canvas.saveState()
    canvas.setFillColor(_brand_colour(council.code, council.brand_colour))
    canvas.rect(LOGO.left, bottom, LOGO.width, LOGO.height, stroke=0, fill=1)
    canvas.setFillColor(white)
    _draw_text(canvas, layout_logo_text(council))
    canvas.restoreState()


@functools.lru_cache(maxsize=32)
def _logo_image(code: str, path: str) -> ImageReader:
    try:
        image = ImageReader(path)
        image.getSize()
    except OSError:
        raise ConfigurationError(
            f"NOTIFIER_COUNCILS_FILE: council {code!r}: logo_file cannot be read"
        ) from None
    return image


@functools.lru_cache(maxsize=32)
def _brand_colour(code: str, colour: str) -> Color:
    if not _HEX_COLOUR.fullmatch(colour):
        raise ConfigurationError(
            f"NOTIFIER_COUNCILS_FILE: council {code!r}: brand_colour {colour!r} is not #rrggbb"
        )
    return HexColor(colour)
