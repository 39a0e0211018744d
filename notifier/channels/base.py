"""The one small protocol every channel adapter implements, and the messages they take.

An adapter returns a Receipt or raises one of ``notifier.errors``' DeliveryFailure types, mapped
from the provider's codes in one table in its own module. It never leaks a vendor exception and
never logs a recipient.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Protocol, TypeAlias, TypeVar

from notifier.councils import Council
from notifier.model import Receipt
from notifier.templates.blocks import Block


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


class Channel(Protocol):
    """A provider that can take one kind of message."""

    name: str

    async def send(self, message: Message) -> Receipt:
        """Hand one message to the provider; a Receipt, or a DeliveryFailure."""
        ...

    async def aclose(self) -> None:
        """Release connections; the channel is not used afterwards."""
        ...


M = TypeVar("M", EmailMessage, SmsMessage, LetterMessage)


def expect(message: Message, kind: type[M]) -> M:
    """``message`` as the kind a channel takes; TypeError (a wiring bug) for any other."""
    if not isinstance(message, kind):
        raise TypeError(f"a {kind.__name__} channel cannot send a {type(message).__name__}")
    return message
