"""Template files and the catalogue that finds the right one for a council and event type.

A template is one file, ``<event.type>.md``: TOML front matter between ``+++`` lines, then the
body in restricted Markdown (see ``blocks.py``) used for both email and letter. The front matter
declares the topic, whether the event is a statutory notice, the personalisation it needs, the
email subject, the SMS text, its fragment limit, the postage class and a sample event.

Lookup order for council ``c`` and type ``t``: ``$NOTIFIER_TEMPLATE_DIR/councils/c/t.md``,
``$NOTIFIER_TEMPLATE_DIR/t.md``, then the same two under the shipped ``catalogue/``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tomllib
from collections.abc import Iterator, Mapping
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Template as JinjaTemplate
from jinja2 import TemplateSyntaxError, nodes

from notifier.errors import ConfigurationError, InvalidEvent
from notifier.templates.blocks import Shapes
from notifier.templates.environment import MARKS, markdown_env, marked_env, plain_env

POSTAGE_CLASSES = ("first", "second", "economy")
FRONT_MATTER = "+++"
# The statements of a body whose Markdown can be parsed once: each writes literal text or
# values (finalized one by one), and none captures what is written to change it (macros, call,
# filter and set blocks do).
_WRITES_ONLY = (nodes.Output, nodes.If, nodes.For, nodes.Assign, nodes.With)


@dataclasses.dataclass(frozen=True)
class Sample:
    """The sample event a template is checked and previewed with."""

    reference: str
    personalisation: Mapping[str, Any]
    name: str = "Alex Smith"


@dataclasses.dataclass(frozen=True)
class Template:
    """One event type's wording for every channel, as declared in its file."""

    event_type: str
    topic: str
    statutory: bool
    personalisation: tuple[str, ...]
    subject: str
    sms: str
    body: str
    sample: Sample
    version: str
    title: str = ""
    sms_fragment_limit: int = 2
    letter_page_limit: int = 2
    postage: str = "second"
    council: str | None = None
    # Event types that withdraw this message while it still waits, for the same case.
    withdrawn_by: tuple[str, ...] = ()

    @cached_property
    def compiled(self) -> tuple[JinjaTemplate, JinjaTemplate, JinjaTemplate]:
        """The subject, SMS and body compiled once (subject and SMS plain, body Markdown)."""
        try:
            return (
                plain_env.from_string(self.subject),
                plain_env.from_string(self.sms),
                markdown_env.from_string(self.body),
            )
        except TemplateSyntaxError as exc:
            raise InvalidEvent("template-error", f"{self.event_type}: {exc.message}") from None

    @cached_property
    def marked(self) -> JinjaTemplate | None:
        """The body compiled to write a mark for each value and collect the values, when its
        Markdown can be parsed once (``blocks.Shapes``); None when it must be parsed each time:
        a statement of the body captures output, or its text has a mark of its own."""
        _ = self.compiled  # a syntax error anywhere is the InvalidEvent it has always been
        body = marked_env.parse(self.body)
        writes_only = all(
            isinstance(node, _WRITES_ONLY) and not (isinstance(node, nodes.For) and node.recursive)
            for node in body.find_all(nodes.Stmt)
        )
        if not writes_only or MARKS.search(self.body):
            return None
        return marked_env.from_string(body)

    @cached_property
    def shapes(self) -> Shapes:
        """The body's Markdown, parsed once for each shape it takes."""
        return Shapes()


def parse_template(text: str, *, event_type: str, council: str | None = None) -> Template:
    """A Template from the text of its file; ConfigurationError names what is wrong."""
    head, sep, body = text.removeprefix(FRONT_MATTER).partition(f"\n{FRONT_MATTER}\n")
    if not text.startswith(FRONT_MATTER) or not sep:
        raise ConfigurationError(f"template {event_type}: front matter between +++ lines missing")
    try:
        meta = tomllib.loads(head)
        sample = meta.pop("sample")
        template = Template(
            event_type=event_type,
            body=body.strip() + "\n",
            sample=Sample(
                reference=sample["reference"],
                personalisation=sample.get("personalisation", {}),
                name=sample.get("name", "Alex Smith"),
            ),
            version=hashlib.sha256(text.encode()).hexdigest()[:12],
            council=council,
            personalisation=tuple(meta.pop("personalisation", ())),
            withdrawn_by=tuple(meta.pop("withdrawn_by", ())),
            **meta,
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"template {event_type}: {exc}") from None
    if template.postage not in POSTAGE_CLASSES:
        raise ConfigurationError(f"template {event_type}: postage must be one of {POSTAGE_CLASSES}")
    return template


class Catalogue:
    """Every template, shipped and configured, by council and event type."""

    def __init__(self, roots: list[Path]) -> None:
        self._by_key: dict[tuple[str | None, str], Template] = {}
        for root in reversed(roots):  # later roots lose to earlier ones
            self._load(root)
        withdraws: dict[str, set[str]] = {}
        for template in self._by_key.values():
            for by in template.withdrawn_by:
                withdraws.setdefault(by, set()).add(template.event_type)
        self._withdraws = {by: frozenset(types) for by, types in withdraws.items()}

    @classmethod
    def load(cls, template_dir: Path | None = None) -> Catalogue:
        shipped = Path(str(resources.files("notifier.templates").joinpath("catalogue")))
        return cls([template_dir, shipped] if template_dir else [shipped])

    def _load(self, root: Path) -> None:
        if not root.is_dir():
            raise ConfigurationError(f"NOTIFIER_TEMPLATE_DIR: {root} is not a directory")
        for path in sorted(root.glob("*.md")):
            self._add(path, None)
        for path in sorted(root.glob("councils/*/*.md")):
            self._add(path, path.parent.name)

    def _add(self, path: Path, council: str | None) -> None:
        event_type = path.name.removesuffix(".md")
        self._by_key[(council, event_type)] = parse_template(
            path.read_text("utf-8"), event_type=event_type, council=council
        )

    def get(self, council: str, event_type: str) -> Template:
        """The template for this council, or InvalidEvent ``unknown-event-type``."""
        found = self._by_key.get((council, event_type)) or self._by_key.get((None, event_type))
        if found is None:
            raise InvalidEvent("unknown-event-type", f"no template for {event_type!r}")
        return found

    def event_types(self) -> list[str]:
        return sorted({t for (c, t) in self._by_key if c is None})

    def __iter__(self) -> Iterator[Template]:
        return iter(self._by_key.values())

    def withdrawn_by(self, event_type: str) -> frozenset[str]:
        """The templates (event types) that an event of ``event_type`` withdraws."""
        return self._withdraws.get(event_type, frozenset())

    def topic_of(self, event_type: str) -> str | None:
        found = self._by_key.get((None, event_type))
        return found.topic if found else None
