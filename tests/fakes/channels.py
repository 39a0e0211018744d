"""Channel fakes built from a plain handler function (inject, don't patch)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from notifier.messages import Message
from notifier.model import Receipt, Status

Handler = Callable[[Message], Awaitable[Receipt]]


async def accept(message: Message) -> Receipt:
    return Receipt(Status.SENT, provider_ref=f"fake-{message.notification_id}")


class FakeChannel:
    """A Channel whose behaviour is one async function; records every message it was given."""

    def __init__(self, name: str, handler: Handler = accept) -> None:
        self.name = name
        self.handler = handler
        self.sent: list[Message] = []
        self.closed = False

    async def send(self, message: Message) -> Receipt:
        self.sent.append(message)
        return await self.handler(message)

    async def aclose(self) -> None:
        self.closed = True


class RecordingSink:
    """An OutcomeSink that keeps what was published."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    async def publish(self, routing_key: str, body: bytes, message_id: str) -> None:
        self.published.append((routing_key, body))
