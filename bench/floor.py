"""The floor: only the I/O every notification must do, with minimal code and the same libraries.

    python bench/floor.py --amqp-url URL --queue NAME --database-url URL \\
        --smtp-port N --twilio-url URL [--prefetch 200] [--smtp-pool 4]

(the Twilio fake's test credentials come from ``bench/_common.py``)

Run by ``bench/throughput.py`` as a process of its own, so that its CPU is measured as the
worker's is. It consumes the preloaded bench events from ``--queue`` (aio-pika, the worker's
prefetch, one channel with publisher confirms) and for each one:

1. parses the event (``json``) for its id, case reference and contact detail;
2. adds a row to the next batch's multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING`` (a row
   not returned was there before: a redelivery, acked without sending again);
3. sends it: an email as one SMTP transaction (MAIL, RCPT, DATA; RFC 5321) with aiosmtplib on one
   of ``--smtp-pool`` reused connections, a text as one HTTP POST with aiohttp to Twilio's
   Messages endpoint, form fields ``To``, ``From`` and ``Body`` with basic auth (Twilio, "Create a
   Message resource", https://www.twilio.com/docs/messaging/api/message-resource);
4. adds the provider's reference to the next batch's one ``UPDATE … FROM unnest(…)``;
5. once that batch is committed, publishes one outcome with a publisher confirm (RabbitMQ,
   "Consumer Acknowledgements and Publisher Confirms",
   https://www.rabbitmq.com/docs/confirms) to an exchange nothing is bound to, as the bench's
   ``notifier.outcomes`` is;
6. acks the event.

The database writes go through asyncpg directly (the driver under the service's SQLAlchemy), in
a group commit: one flush at a time on one connection takes everything queued (at most 500 rows
of each kind) and runs the INSERT and the UPDATE in one transaction; callers are answered after
``COMMIT``. Rows go in as arrays expanded with ``unnest`` (PostgreSQL, "Array Functions and
Operators", https://www.postgresql.org/docs/current/functions-array.html), one statement for any
number of rows.

Nothing else: no validation, no templates, no preferences, no send intent, no history rows, no
logs or metrics, no retries (any error ends the process with a non-zero status, which the bench
reports). The email is a fixed plain-text message whose Subject carries the case reference, the
text's Body carries it too, so the sinks count and time-stamp both unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import uuid
from collections.abc import Sequence
from typing import Any

import aio_pika
import aiohttp
import aiosmtplib
import asyncpg
from _common import TWILIO_SID, TWILIO_TOKEN
from aio_pika.abc import AbstractIncomingMessage

TABLE = """
CREATE TABLE IF NOT EXISTS floor_notifications (
    event_id text PRIMARY KEY,
    channel text NOT NULL,
    status text NOT NULL,
    provider_ref text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
)
"""
INSERT = """
INSERT INTO floor_notifications (event_id, channel, status)
SELECT event_id, channel, 'created' FROM unnest($1::text[], $2::text[]) AS r(event_id, channel)
ON CONFLICT DO NOTHING RETURNING event_id
"""
UPDATE = """
UPDATE floor_notifications AS n SET status = 'sent', provider_ref = r.ref, updated_at = now()
FROM unnest($1::text[], $2::text[]) AS r(event_id, ref) WHERE n.event_id = r.event_id
"""
OUTCOMES = "bench.floor.outcomes"
BATCH = 500  # as the service's group commit
SENDER = "notifications@floor.invalid"
SMS_SENDER = "FloorBench"  # an alphanumeric sender ID, as the councils' are


class GroupCommit:
    """Queued inserts and updates, flushed one transaction at a time on one connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.inserts: list[tuple[str, str, asyncio.Future[bool]]] = []
        self.updates: list[tuple[str, str, asyncio.Future[None]]] = []
        self.flusher: asyncio.Task[None] | None = None

    async def insert(self, event_id: str, channel: str) -> bool:
        """Whether the row is new (False: the event was seen before)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.inserts.append((event_id, channel, future))
        self._kick()
        return await future

    async def update(self, event_id: str, provider_ref: str) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.updates.append((event_id, provider_ref, future))
        self._kick()
        await future

    def _kick(self) -> None:
        if self.flusher is None or self.flusher.done():
            self.flusher = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        while self.inserts or self.updates:
            inserts, self.inserts = self.inserts[:BATCH], self.inserts[BATCH:]
            updates, self.updates = self.updates[:BATCH], self.updates[BATCH:]
            try:
                async with self.conn.transaction():
                    created: set[str] = set()
                    if inserts:
                        ids, channels = [i[0] for i in inserts], [i[1] for i in inserts]
                        rows = await self.conn.fetch(INSERT, ids, channels)
                        created = {row[0] for row in rows}
                    if updates:
                        ids, refs = [u[0] for u in updates], [u[1] for u in updates]
                        await self.conn.execute(UPDATE, ids, refs)
            except Exception as exc:
                for *_, inserted in inserts:
                    inserted.set_exception(exc)
                for *_, updated in updates:
                    updated.set_exception(exc)
                continue
            for event_id, _, inserted in inserts:
                inserted.set_result(event_id in created)
            for *_, updated in updates:
                updated.set_result(None)


class Floor:
    """The per-message work: insert, send, update, publish, ack."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stopped = asyncio.Event()  # SIGTERM, or the first error
        self.error: Exception | None = None
        self.in_flight: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        args = self.args
        self.db = await asyncpg.connect(
            args.database_url.replace("postgresql+asyncpg", "postgresql")
        )
        await self.db.execute(TABLE)
        self.store = GroupCommit(self.db)
        self.smtp: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
        for _ in range(args.smtp_pool):
            conn = aiosmtplib.SMTP(hostname="127.0.0.1", port=args.smtp_port, start_tls=False)
            await conn.connect()
            self.smtp.put_nowait(conn)
        self.http = aiohttp.ClientSession(auth=aiohttp.BasicAuth(TWILIO_SID, TWILIO_TOKEN))
        self.messages_url = f"{args.twilio_url}/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        self.amqp = await aio_pika.connect(args.amqp_url)
        self.channel = await self.amqp.channel(publisher_confirms=True)
        await self.channel.set_qos(prefetch_count=args.prefetch)
        self.outcomes = await self.channel.declare_exchange(
            OUTCOMES, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await self.channel.get_queue(args.queue)
        self.queue = queue
        self.tag = await queue.consume(self.on_message)

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()  # aiormq runs each delivery in a task of its own
        assert task is not None
        self.in_flight.add(task)
        try:
            await self.handle(message)
        except Exception as exc:
            self.error = self.error or exc
            self.stopped.set()
        finally:
            self.in_flight.discard(task)

    async def handle(self, message: AbstractIncomingMessage) -> None:
        event = json.loads(message.body)
        recipient: dict[str, Any] = event["data"]["recipient"]
        reference: str = event["subject"]
        channel = "email" if "email" in recipient else "sms"
        if await self.store.insert(event["id"], channel):
            if channel == "email":
                ref = await self.send_email(recipient["email"], reference)
            else:
                ref = await self.send_sms(recipient["mobile"], reference)
            await self.store.update(event["id"], ref)
            outcome = {"event_id": event["id"], "channel": channel, "status": "sent"}
            await self.outcomes.publish(
                aio_pika.Message(
                    json.dumps(outcome).encode(),
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key="notification.sent",
            )
        await message.ack()

    async def send_email(self, to: str, reference: str) -> str:
        message_id = f"<{uuid.uuid4().hex}@floor.invalid>"
        data = (
            f"From: {SENDER}\r\nTo: {to}\r\nSubject: Planning application {reference}\r\n"
            f"Message-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
            "We have received a planning application.\r\n"
        ).encode()
        conn = await self.smtp.get()
        try:
            await conn.sendmail(SENDER, [to], data)
        finally:
            self.smtp.put_nowait(conn)
        return message_id

    async def send_sms(self, mobile: str, reference: str) -> str:
        digits = mobile.replace(" ", "")
        form = {
            "To": "+44" + digits[1:],  # a UK 07 number in E.164
            "From": SMS_SENDER,
            "Body": f"We have received planning application {reference}.",
        }
        async with self.http.post(self.messages_url, data=form) as response:
            if response.status != 201:
                raise RuntimeError(f"Twilio answered HTTP {response.status}")
            sid: str = (await response.json())["sid"]
        return sid

    async def stop(self) -> None:
        """Stop consuming, let the messages in hand finish (their record, outcome and ack), and
        close everything."""
        with contextlib.suppress(Exception):
            await self.queue.cancel(self.tag)
        if self.in_flight:
            await asyncio.wait(set(self.in_flight), timeout=30)
        await self.amqp.close()
        await self.http.close()
        while not self.smtp.empty():
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await self.smtp.get_nowait().quit()
        await self.db.close()


async def main(args: argparse.Namespace) -> int:
    floor = Floor(args)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, floor.stopped.set)
    await floor.start()
    await floor.stopped.wait()
    await floor.stop()
    if floor.error is not None:
        # The type only: a library's message can quote an address.
        print(f"floor failed: {type(floor.error).__name__}", file=sys.stderr)
        return 1
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--amqp-url", required=True)
    parser.add_argument("--queue", required=True, help="the preloaded queue to drain")
    parser.add_argument("--database-url", required=True, help="PostgreSQL (asyncpg) URL")
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--twilio-url", required=True, help="base URL of the Twilio fake")
    parser.add_argument("--prefetch", type=int, default=200)
    parser.add_argument("--smtp-pool", type=int, default=4, help="reused SMTP connections")
    return parser.parse_args(argv)


if __name__ == "__main__":
    import uvloop

    sys.exit(uvloop.run(main(parse_args())))
