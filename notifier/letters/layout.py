"""Line breaking and pagination of a letter's title, body blocks and footer.

Pure arithmetic over font metrics: it decides what text goes where, in points from the top-left
of the page, and how many pages that takes, without drawing anything, so the page count is cheap.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

from notifier.letters import fonts
from notifier.letters.geometry import (
    BODY_LEFT,
    BODY_TOP_FIRST,
    BODY_TOP_OTHER,
    BODY_WIDTH,
    FOOTER_BASELINE,
    FOOTER_GAP,
    FOOTER_RIGHT,
    MM,
)
from notifier.messages import Block, Heading, LetterMessage, ListBlock, Paragraph


@dataclasses.dataclass(frozen=True, slots=True)
class Style:
    """Type sizes and spacing, in points, for one print format."""

    body: float
    leading: float
    title: float
    title_leading: float
    heading: float
    heading_leading: float
    subheading: float
    subheading_leading: float
    gap: float
    item_gap: float
    indent: float
    footer: float
    footer_leading: float


STANDARD = Style(
    body=12, leading=16, title=18, title_leading=22, heading=14, heading_leading=18,
    subheading=12, subheading_leading=16, gap=8, item_gap=3, indent=6 * MM,
    footer=10, footer_leading=12,
)  # fmt: skip
# UKAAF/RNIB large print: body 16 pt or more, 1.5 line spacing, bigger headings, footer too.
LARGE_PRINT = Style(
    body=16, leading=24, title=24, title_leading=30, heading=20, heading_leading=26,
    subheading=18, subheading_leading=24, gap=14, item_gap=8, indent=9 * MM,
    footer=16, footer_leading=20,
)  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class Placed:
    """One line of text where it is drawn: ``x`` of its left edge, ``baseline`` from the top."""

    text: str
    font: str
    size: float
    x: float
    baseline: float


@dataclasses.dataclass(frozen=True, slots=True)
class _Line:
    text: str
    font: str
    size: float
    leading: float
    indent: float = 0.0
    space_before: float = 0.0
    label: str = ""
    keep_with_next: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Footer:
    """The footer drawn on every page: its text lines, and where "Page N of M" goes."""

    lines: tuple[Placed, ...]
    size: float
    label_baseline: float


@dataclasses.dataclass(frozen=True, slots=True)
class LetterLayout:
    """The body text of each page and the footer they share."""

    pages: tuple[tuple[Placed, ...], ...]
    footer: Footer


def style_for(message: LetterMessage) -> Style:
    return LARGE_PRINT if message.large_print else STANDARD


def layout_letter(message: LetterMessage) -> LetterLayout:
    """Where every line of the title, body and footer goes, page by page."""
    fonts.register()
    style = style_for(message)
    footer = layout_footer(message, style)
    bottom = footer.lines[0].baseline - footer.size - FOOTER_GAP
    pages = _paginate(list(_body_lines(message, style)), bottom)
    return LetterLayout(pages, footer)


def wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """``text`` broken into lines no wider than ``width``; a word too long for a line (a URL)
    is broken between characters."""
    lines: list[str] = []
    current: list[str] = []
    current_width = 0.0
    space = fonts.text_width(" ", font, size)
    for word in text.split():
        word_width = fonts.text_width(word, font, size)
        if current and current_width + space + word_width <= width:
            current.append(word)
            current_width += space + word_width
            continue
        if current:
            lines.append(" ".join(current))
        if word_width > width:
            *whole, word = _split_word(word, font, size, width)
            lines.extend(whole)
            word_width = fonts.text_width(word, font, size)
        current, current_width = [word], word_width
    if current:
        lines.append(" ".join(current))
    return lines


def _split_word(word: str, font: str, size: float, width: float) -> list[str]:
    pieces = [""]
    for char in word:
        if pieces[-1] and fonts.text_width(pieces[-1] + char, font, size) > width:
            pieces.append("")
        pieces[-1] += char
    return pieces


def _body_lines(message: LetterMessage, style: Style) -> Iterator[_Line]:
    for text in wrap(message.title, fonts.BOLD, style.title, BODY_WIDTH):
        yield _Line(text, fonts.BOLD, style.title, style.title_leading, keep_with_next=True)
    for block in message.blocks:
        yield from _block_lines(block, style)


def _block_lines(block: Block, style: Style) -> Iterator[_Line]:
    if isinstance(block, Heading):
        size, leading = (
            (style.heading, style.heading_leading)
            if block.level <= 2
            else (style.subheading, style.subheading_leading)
        )
        for n, text in enumerate(wrap(block.text, fonts.BOLD, size, BODY_WIDTH)):
            space = style.gap * 1.5 if n == 0 else 0.0
            yield _Line(text, fonts.BOLD, size, leading, space_before=space, keep_with_next=True)
    elif isinstance(block, Paragraph):
        texts = wrap(block.text, fonts.REGULAR, style.body, BODY_WIDTH)
        for n, text in enumerate(texts):
            yield _Line(
                text, fonts.REGULAR, style.body, style.leading,
                space_before=style.gap if n == 0 else 0.0,
                keep_with_next=_keeps_with_next(n, len(texts)),
            )  # fmt: skip
    else:
        yield from _list_lines(block, style)


def _list_lines(block: ListBlock, style: Style) -> Iterator[_Line]:
    width = BODY_WIDTH - style.indent
    for number, item in enumerate(block.items, 1):
        label = f"{number}." if block.ordered else "\u2022"
        texts = wrap(item, fonts.REGULAR, style.body, width)
        for n, text in enumerate(texts):
            space = (style.gap if number == 1 else style.item_gap) if n == 0 else 0.0
            yield _Line(
                text, fonts.REGULAR, style.body, style.leading, style.indent, space,
                label if n == 0 else "", _keeps_with_next(n, len(texts)),
            )  # fmt: skip


def _keeps_with_next(index: int, count: int) -> bool:
    """No paragraph leaves a single line alone at the foot or the head of a page."""
    return count > 1 and index in (0, count - 2)


def _chain_height(lines: Sequence[_Line], start: int) -> float:
    """Height of ``lines[start]`` and the lines it must stay with (a heading and what follows)."""
    end = start
    while lines[end].keep_with_next and end + 1 < len(lines):
        end += 1
    return sum(line.space_before + line.leading for line in lines[start : end + 1])


def _paginate(lines: Sequence[_Line], bottom: float) -> tuple[tuple[Placed, ...], ...]:
    pages: list[list[Placed]] = [[]]
    page_top = cursor = BODY_TOP_FIRST
    for index, line in enumerate(lines):
        at_top = cursor == page_top
        if not at_top and cursor + _chain_height(lines, index) > bottom:
            pages.append([])
            page_top = cursor = BODY_TOP_OTHER
            at_top = True
        cursor += 0.0 if at_top else line.space_before
        # The baseline sits one type size down: the glyph box (ascent 0.79, descent 0.21 of
        # the size) then lies inside the line's leading.
        baseline = cursor + line.size
        if line.label:
            pages[-1].append(Placed(line.label, line.font, line.size, BODY_LEFT, baseline))
        x = BODY_LEFT + line.indent
        pages[-1].append(Placed(line.text, line.font, line.size, x, baseline))
        cursor += line.leading
    return tuple(tuple(page) for page in pages)


def footer_text(message: LetterMessage) -> str:
    """How the resident can change how the council contacts them."""
    if message.preferences_url:
        return f"To change how we contact you, go to {message.preferences_url}"
    council = message.council
    return (
        f"To change how we contact you, call {council.phone} "
        f"or go to {display_url(council.website)}"
    )


def display_url(url: str) -> str:
    """A web address as printed: no scheme, no trailing slash."""
    return url.removeprefix("https://").removeprefix("http://").rstrip("/")


def page_label(page: int, pages: int) -> str:
    return f"Page {page} of {pages}"


def layout_footer(message: LetterMessage, style: Style) -> Footer:
    """The footer's lines, bottom line on the footer baseline; the page label sits at the
    right of its first line."""
    label_width = fonts.text_width(page_label(88, 88), fonts.REGULAR, style.footer)
    width = FOOTER_RIGHT - BODY_LEFT - label_width - FOOTER_GAP
    texts = wrap(footer_text(message), fonts.REGULAR, style.footer, width)
    first = FOOTER_BASELINE - (len(texts) - 1) * style.footer_leading
    lines = tuple(
        Placed(text, fonts.REGULAR, style.footer, BODY_LEFT, first + n * style.footer_leading)
        for n, text in enumerate(texts)
    )
    return Footer(lines, style.footer, first)
