"""The restricted Markdown of template bodies, parsed into blocks every channel can render.

Allowed: headings (``#`` to ``###``), paragraphs, bulleted and numbered lists. Inline markup is
flattened to text; raw HTML, images and tables are not part of the language.

A body's Markdown is parsed once for each shape it takes (``Shapes``): the rendered body with a
mark (``environment.MARKS``) written for each value. The values are escaped as they go in, so
each reads as plain text in whatever block it lands (``environment.markdown_literal``), and the
blocks of the shape, each mark replaced by its value, are the blocks of the rendered body.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from markdown_it import MarkdownIt
from markdown_it.token import Token

from notifier.errors import InvalidEvent
from notifier.messages import Block, Heading, ListBlock, Paragraph
from notifier.templates.environment import FIRST_MARK, MARK_RANGE, MARKS

_md = MarkdownIt("zero").enable(["heading", "list", "paragraph", "escape", "newline"])
# Where a block may start (a line's start, or after list markers) a value and the digits around
# it, then "." or ")": digits of the value would make an ordered list marker there (CommonMark
# 0.31.2, 5.2 "List items") that its mark does not, so such a shape is parsed with its values.
_M = MARK_RANGE
_VALUE_IN_LIST_MARKER = re.compile(
    rf"^[ \t]*(?:(?:[-+*]|[0-9]{{1,9}}[.)])[ \t]+)*[0-9{_M}]*[{_M}][0-9{_M}]*[.)]", re.MULTILINE
)


def _inline_text(token: Token) -> str:
    parts: list[str] = []
    for child in token.children or ():
        if child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        else:
            parts.append(child.content)
    return " ".join("".join(parts).split())


def parse_blocks(markdown: str) -> tuple[Block, ...]:
    """Blocks of a rendered Markdown body, in order."""
    blocks: list[Block] = []
    items: list[str] | None = None
    ordered = False
    heading_level = 0
    depth = 0
    for token in _md.parse(markdown):
        if token.type in ("bullet_list_open", "ordered_list_open"):
            depth += 1
            if depth > 1:
                raise InvalidEvent("template-error", "nested lists are not allowed")
            items, ordered = [], token.type == "ordered_list_open"
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
            blocks.append(ListBlock(tuple(items or ()), ordered))
            items = None
        elif token.type == "heading_open":
            heading_level = int(token.tag[1])
        elif token.type == "inline":
            text = _inline_text(token)
            if heading_level:
                blocks.append(Heading(heading_level, text))
                heading_level = 0
            elif items is not None:
                items.append(text)
            elif text:
                blocks.append(Paragraph(text))
    return tuple(blocks)


def plain_text(blocks: tuple[Block, ...]) -> str:
    """Blocks as plain text that reads well on its own, as GOV.UK Notify writes plain-text
    email (headings underlined to 65 columns, ``•`` bullets)."""
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            rule = "=" if block.level == 1 else "-"
            out.append(f"{block.text}\n{rule * 65}")
        elif isinstance(block, Paragraph):
            out.append(block.text)
        else:
            out.append(
                "\n".join(
                    f"{n}. {item}" if block.ordered else f"\u2022 {item}"
                    for n, item in enumerate(block.items, 1)
                )
            )
    return "\n\n".join(out)


@dataclasses.dataclass(frozen=True, slots=True)
class _Text:
    """One text of a shape: itself when it has no value, else a format string with ``{n}`` for
    the n-th value."""

    text: str
    values: tuple[int, ...]

    @classmethod
    def of(cls, text: str) -> _Text:
        values = tuple(ord(mark) - FIRST_MARK for mark in MARKS.findall(text))
        if not values:
            return cls(text, ())
        escaped = text.replace("{", "{{").replace("}", "}}")
        return cls(MARKS.sub(lambda m: f"{{{ord(m[0]) - FIRST_MARK}}}", escaped), values)

    def fill(self, values: Sequence[str]) -> str:
        return self.text.format(*values) if self.values else self.text


@dataclasses.dataclass(frozen=True, slots=True)
class _Shape:
    """The blocks of one shape, as (kind, level or ordered, texts), and how many values."""

    blocks: tuple[tuple[type[Block], int, tuple[_Text, ...]], ...]
    values: int

    @classmethod
    def parse(cls, shape: str) -> _Shape | None:
        """The blocks of ``shape``; None when its values could change them, or its marks are
        not each there once (more values than marks)."""
        if _VALUE_IN_LIST_MARKER.search(shape):
            return None
        recipe: list[tuple[type[Block], int, tuple[_Text, ...]]] = []
        for block in parse_blocks(shape):
            if isinstance(block, ListBlock):
                recipe.append((ListBlock, block.ordered, tuple(map(_Text.of, block.items))))
            else:
                level = block.level if isinstance(block, Heading) else 0
                recipe.append((type(block), level, (_Text.of(block.text),)))
        found = sorted(n for _, _, texts in recipe for t in texts for n in t.values)
        if found != list(range(len(found))):
            return None
        return cls(tuple(recipe), len(found))

    def fill(self, values: Sequence[str]) -> tuple[Block, ...]:
        out: list[Block] = []
        for kind, arg, texts in self.blocks:
            if kind is ListBlock:
                out.append(ListBlock(tuple(t.fill(values) for t in texts), bool(arg)))
            elif kind is Heading:
                out.append(Heading(arg, texts[0].fill(values)))
            else:
                out.append(Paragraph(texts[0].fill(values)))
        return tuple(out)


class Shapes:
    """The parsed shapes of one template's body, by the shape's text: one for a body without
    ``{% if %}`` or ``{% for %}``, one for each branch taken or number of items with them (at
    most ``LIMIT`` kept; past that a new shape is parsed each time it comes)."""

    LIMIT = 64

    def __init__(self) -> None:
        self._parsed: dict[str, _Shape | None] = {}

    def __len__(self) -> int:
        return len(self._parsed)

    def fill(self, shape: str, values: Sequence[str]) -> tuple[Block, ...] | None:
        """The blocks of the body rendered as ``shape`` with ``values`` (in the order they were
        written), or None when that shape must be parsed with its values in place."""
        try:
            parsed = self._parsed[shape]
        except KeyError:
            parsed = _Shape.parse(shape)  # InvalidEvent (a nested list) as parse_blocks
            if len(self._parsed) < self.LIMIT:
                self._parsed[shape] = parsed
        if parsed is None or parsed.values != len(values):
            return None
        return parsed.fill(values)
