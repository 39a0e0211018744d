"""The rendered messages the channels take, and the blocks a letter's body is made of.

A leaf: it imports nothing of the package but the other leaves.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import TypeAlias, TypeVar

from notifier.model import Council


@dataclasses.dataclass(frozen=True, slots=True)
class Heading:
    level: int
    text: str


@dataclasses.dataclass(frozen=True, slots=True)
class Paragraph:
    text: str


@dataclasses.dataclass(frozen=True, slots=True)
class ListBlock:
    items: tuple[str, ...]
    ordered: bool = False


Block: TypeAlias = Heading | Paragraph | ListBlock


@dataclasses.dataclass(frozen=True, slots=True)
class EmailMessage:
    notification_id: str
    council: Council
    event_type: str
    to: str
    subject: str
    text: str
    html: str
    # One-click unsubscribe (RFC 8058) URL; None for statutory notices.
    unsubscribe_url: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class SmsMessage:
    notification_id: str
    council: Council
    event_type: str
    to: str
    body: str
    fragments: int


@dataclasses.dataclass(frozen=True, slots=True)
class LetterMessage:
    notification_id: str
    council: Council
    event_type: str
    address: tuple[str, ...]
    name: str | None
    title: str
    reference: str
    blocks: tuple[Block, ...]
    date: date
    large_print: bool = False
    postage: str = "second"
    preferences_url: str | None = None


Message: TypeAlias = EmailMessage | SmsMessage | LetterMessage


M = TypeVar("M", EmailMessage, SmsMessage, LetterMessage)


def expect(message: Message, kind: type[M]) -> M:
    """``message`` as the kind a channel takes; TypeError (a wiring bug) for any other."""
    if not isinstance(message, kind):
        raise TypeError(f"a {kind.__name__} channel cannot send a {type(message).__name__}")
    return message
