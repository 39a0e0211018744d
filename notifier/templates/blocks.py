"""The restricted Markdown of template bodies, parsed into blocks every channel can render.

Allowed: headings (``#`` to ``###``), paragraphs, bulleted and numbered lists. Inline markup is
flattened to text; raw HTML, images and tables are not part of the language.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.token import Token

from notifier.errors import InvalidEvent
from notifier.messages import Block, Heading, ListBlock, Paragraph

_md = MarkdownIt("zero").enable(["heading", "list", "paragraph", "escape", "newline"])


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
