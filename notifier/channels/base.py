"""The one small protocol every channel adapter implements.

An adapter returns a Receipt or raises one of ``notifier.errors``' DeliveryFailure types, mapped
from the provider's codes in one table in its own module. It never leaks a vendor exception and
never logs a recipient.
"""

from __future__ import annotations

from typing import Protocol

from notifier.messages import Message
from notifier.model import Receipt


class Channel(Protocol):
    """A provider that can take one kind of message."""

    name: str

    async def send(self, message: Message) -> Receipt:
        """Hand one message to the provider; a Receipt, or a DeliveryFailure."""
        ...

    async def aclose(self) -> None:
        """Release connections; the channel is not used afterwards."""
        ...
