"""The one small protocol every channel adapter implements.

An adapter returns a Receipt or raises one of ``notifier.errors``' DeliveryFailure types, mapped
from the provider's codes in one table in its own module. It never leaks a vendor exception and
never logs a recipient.

Two optional parts decide what a replay does with a send whose outcome is unknown (the worker
died between the provider call and its record, docs/events.md): an adapter that can ask its
provider implements ``Reconciler``; one whose writes are keyed by the notification id (the
outboxes, the letter spool) sets ``idempotent = True`` and is simply called again. Any other
(SMTP) is called again too, with the same Message-ID, and the resend is counted as a possible
duplicate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

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


@runtime_checkable
class Reconciler(Protocol):
    """A channel whose provider can be asked what became of an earlier send."""

    async def find(self, message: Message, since: datetime) -> Receipt | None:
        """The Receipt of the provider's copy of ``message`` made at or after ``since``, None
        when it has none (it never arrived); TechnicalFailure when the provider cannot be
        asked now."""
        ...


def reconciler(adapter: object) -> Reconciler | None:
    """``adapter`` as a Reconciler, if it is one."""
    return adapter if isinstance(adapter, Reconciler) else None


def is_idempotent(adapter: object) -> bool:
    """Whether sending the same notification twice through ``adapter`` does nothing twice."""
    return bool(getattr(adapter, "idempotent", False))
