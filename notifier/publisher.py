"""A synchronous publisher for council systems written in Python (kombu, publisher confirms).

    from notifier.publisher import Publisher

    with Publisher("amqp://guest:guest@127.0.0.1:5672/") as publisher:
        publisher.publish(event)          # a dict: one CloudEvent, see docs/events.md

``publish`` returns once the broker has confirmed the message; it raises ``PublishError`` when the
broker refuses it or cannot be reached. Events are validated before they leave, so a council
system finds its mistakes at once rather than in the dead-letter queue.
"""

from __future__ import annotations

import json
import time
from types import TracebackType
from typing import Any

from kombu.connection import Connection
from kombu.entity import Exchange
from kombu.exceptions import KombuError
from kombu.messaging import Producer

from notifier.errors import InvalidEvent, NotifierError
from notifier.events import from_document

EXCHANGE = Exchange("notifier.events", type="topic", durable=True)
CONTENT_TYPE = "application/cloudevents+json"


class PublishError(NotifierError):
    """The broker did not confirm the event."""


class Publisher:
    """Publishes case events to ``notifier.events``, one confirmed message each."""

    def __init__(self, url: str, *, timeout: float = 10.0, validate: bool = True) -> None:
        self._connection = Connection(
            url, transport_options={"confirm_publish": True}, connect_timeout=timeout
        )
        self._timeout = timeout
        self._validate = validate
        self._producer: Producer | None = None

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def publish(self, event: dict[str, Any]) -> None:
        """Publish one event (routing key = its type), waiting for the broker's confirm."""
        if self._validate:
            try:
                from_document(event)
            except InvalidEvent as exc:
                raise PublishError(f"event not published: {exc}") from None
        body = json.dumps(event).encode()
        try:
            if self._producer is None:
                self._connection.ensure_connection(max_retries=3, timeout=self._timeout)
                self._producer = self._connection.Producer()
                EXCHANGE(self._producer.channel).declare()
            publish = self._connection.ensure(self._producer, self._producer.publish, max_retries=3)
            publish(
                body,
                exchange=EXCHANGE,
                routing_key=event["type"],
                content_type=CONTENT_TYPE,
                content_encoding="utf-8",
                delivery_mode=2,
                message_id=str(event.get("id", "")),
                # Seconds since the epoch (AMQP 0-9-1): the worker measures queue wait from it.
                timestamp=int(time.time()),
                mandatory=True,
            )
        except (KombuError, OSError) as exc:
            raise PublishError(f"broker did not confirm the event: {type(exc).__name__}") from None

    def close(self) -> None:
        self._connection.release()
