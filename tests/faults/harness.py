"""The fault-injection rig: the real ``notifier run`` on PostgreSQL and its own vhost, email to an
aiosmtpd fake and SMS to the Twilio fake (both in the test's loop), and the books that account
for every event published: notified, failed, suppressed or dead-lettered with a reason.

Every event carries a case reference ``FLT<seq>`` that the email subject and the SMS text show,
so the sinks can count what each event produced; more than one receipt for an event is a
duplicate, which the report counts. A crash between a provider's acceptance and the durable
record can cause one only by email (SMTP cannot be asked), and then with the same Message-ID:
``Sinks.copies`` says how many texts and emails arrived twice, and under how many Message-IDs.
A notification ``sending`` without a provider reference (only the intent recorded) is not yet
notified: the tally waits for its reconciliation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import signal
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg

from tests.events import load_event
from tests.fakes.smtp import FakeSmtpServer
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, RecordedRequest
from tests.faults.gate import Gate
from tests.service import ServiceProcess

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REFERENCE = re.compile(r"FLT(\d{6})")
MESSAGE_ID = re.compile(r"(?mi)^Message-ID:\s*(\S+)")
NOTIFIED = frozenset({"sent", "sending", "delivered", "posted"})
FAILED = frozenset({"permanent-failure", "temporary-failure", "technical-failure"})
REPORTS: list[str] = []  # one line per test, printed in the terminal summary


def reference(seq: int) -> str:
    return f"FLT{seq:06d}"


def event(seq: int, *, sms: bool = False, **personalisation: Any) -> dict[str, Any]:
    """A fault-run event whose case reference carries ``seq``."""
    return load_event(reference(seq), seq, sms=sms, customer=f"FLT-{seq}", **personalisation)


def mixed(count: int, first: int = 0, sms_every: int = 2) -> list[dict[str, Any]]:
    """``count`` events, every ``sms_every``-th one to a mobile, the rest to an email address."""
    return [event(seq, sms=seq % sms_every == 0) for seq in range(first, first + count)]


@dataclasses.dataclass
class Tally:
    """What became of the events a test published."""

    sent: int
    notified: int = 0
    failed: int = 0
    suppressed: int = 0
    dead: int = 0
    duplicated: int = 0
    lost: list[str] = dataclasses.field(default_factory=list)
    dead_reasons: Counter[str] = dataclasses.field(default_factory=Counter)
    seconds: float = 0.0

    def line(self, name: str) -> str:
        reasons = ",".join(f"{k}:{v}" for k, v in sorted(self.dead_reasons.items()))
        return (
            f"{name}: sent {self.sent}, notified {self.notified}, failed {self.failed}, "
            f"suppressed {self.suppressed}, dead-lettered {self.dead}"
            f"{f' ({reasons})' if reasons else ''}, duplicated {self.duplicated}, "
            f"lost {len(self.lost)} [{self.seconds:.1f}s]"
        )


@dataclasses.dataclass(frozen=True)
class Copies:
    """What arrived twice: texts (same To and Body), emails (same case reference), and how many
    of those emails differed in Message-ID (a duplicate a mail client cannot collapse)."""

    texts_twice: int
    emails_twice: int
    emails_with_distinct_ids: int
    text_lookups: int  # Twilio list requests: texts of unknown outcome reconciled

    def line(self) -> str:
        return (
            f"texts looked up {self.text_lookups}, duplicate texts {self.texts_twice}, "
            f"emails resent {self.emails_twice} "
            f"({self.emails_with_distinct_ids} with a different Message-ID)"
        )


class Sinks:
    """The SMTP fake behind a Gate, and the Twilio fake; receipts counted by case reference."""

    def __init__(self) -> None:
        self.smtp = FakeSmtpServer()
        self.twilio = FakeTwilio()
        self.gate: Gate | None = None
        self.sms_times: list[float] = []

    async def __aenter__(self) -> Sinks:
        await self.smtp.start()
        await self.twilio.__aenter__()
        self.gate = await Gate(self.smtp.host, self.smtp.port).open()
        self.twilio.requests = _Timed(self.sms_times)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.gate is not None:
            await self.gate.close()
        await self.twilio.__aexit__(None, None, None)
        await self.smtp.stop()

    def receipts(self) -> Counter[str]:
        """Messages accepted per case reference, email and SMS together."""
        counts: Counter[str] = Counter()
        for message in self.smtp.messages:
            head = message.data.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
            found = REFERENCE.search(head)
            counts[found.group(0) if found else "?"] += 1
        for request in self.twilio.messages.values():
            found = REFERENCE.search(request.form.get("Body", ""))
            counts[found.group(0) if found else "?"] += 1
        return counts

    def copies(self) -> Copies:
        """Texts and emails that reached a sink more than once."""
        texts = Counter(
            (r.form.get("To", ""), r.form.get("Body", "")) for r in self.twilio.messages.values()
        )
        ids: dict[str, list[str]] = {}
        for message in self.smtp.messages:
            head = message.data.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
            found, message_id = REFERENCE.search(head), MESSAGE_ID.search(head)
            ids.setdefault(found.group(0) if found else "?", []).append(
                message_id.group(1) if message_id else ""
            )
        twice = [v for ref, v in ids.items() if len(v) > 1 and ref != "?"]
        return Copies(
            texts_twice=sum(n - 1 for n in texts.values() if n > 1),
            emails_twice=sum(len(v) - 1 for v in twice),
            emails_with_distinct_ids=sum(1 for v in twice if len(set(v)) > 1),
            text_lookups=len(self.twilio.lists),
        )

    def env(self) -> dict[str, str]:
        assert self.gate is not None
        return {
            "NOTIFIER_EMAIL_PROVIDER": "smtp",
            "NOTIFIER_SMTP_HOST": "127.0.0.1",
            "NOTIFIER_SMTP_PORT": str(self.gate.port),
            "NOTIFIER_SMTP_TLS": "none",
            "NOTIFIER_SMTP_TIMEOUT": "5",
            "NOTIFIER_SMS_PROVIDER": "twilio",
            "NOTIFIER_TWILIO_BASE_URL": self.twilio.base_url,
            "NOTIFIER_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "NOTIFIER_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "NOTIFIER_TWILIO_TIMEOUT": "5",
            "NOTIFIER_SMS_ALLOW_FICTION_RANGE": "true",
            "NOTIFIER_TWILIO_SEGMENTS_PER_SECOND": "10000",
        }


class _Timed(list[RecordedRequest]):
    """The Twilio fake's request log, also noting when each request arrived."""

    def __init__(self, times: list[float]) -> None:
        super().__init__()
        self.times = times

    def append(self, item: RecordedRequest) -> None:
        self.times.append(time.monotonic())
        super().append(item)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class World:
    """One test's vhost, database, sinks and service processes."""

    def __init__(self, tmp: Path, amqp_url: str, sinks: Sinks, database: str) -> None:
        self.tmp = tmp
        self.amqp_url = amqp_url
        self.vhost = amqp_url.rsplit("/", 1)[1]
        self.sinks = sinks
        self.database = database
        self.database_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
        self.services: list[ServiceProcess] = []
        self.published: dict[str, dict[str, Any]] = {}  # message id -> event (or raw marker)
        self.dead: dict[str, dict[str, Any]] = {}  # message id -> dead letter headers
        self.started = time.monotonic()

    @classmethod
    async def create(cls, tmp: Path, amqp_url: str, sinks: Sinks) -> World:
        database = f"notifier_faults_{uuid.uuid4().hex[:10]}"
        await _admin(f'CREATE DATABASE "{database}"')
        world = cls(tmp, amqp_url, sinks, database)
        from notifier.store import migrate
        from notifier.store.database import create_engine

        engine = create_engine(world.database_url)
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()
        return world

    async def destroy(self) -> None:
        for service in self.services:
            process = service.process
            if process is not None and process.poll() is None:
                # Stopped from the loop the sinks run in, so in-flight sends can still finish.
                process.send_signal(signal.SIGTERM)
                try:
                    await exit_code(service, 20)
                except AssertionError:
                    process.kill()
            service.stop()
        await _admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def service(self, **env: str) -> ServiceProcess:
        """A new ``notifier run`` process (not started) on this world's broker and database."""
        settings = {
            "NOTIFIER_DATABASE_URL": self.database_url,
            "NOTIFIER_SECRET_KEY": "faults-secret-key-0123456789abcdef0123456789",
            "NOTIFIER_RETRY_DELAYS": "1s,2s",
            "NOTIFIER_MAX_ATTEMPTS": "10",
            **self.sinks.env(),
            **env,
        }
        service = ServiceProcess(self.tmp, self.amqp_url, **settings)
        self.services.append(service)
        return service

    async def publish(
        self,
        events: Iterable[dict[str, Any] | bytes | tuple[bytes, str]],
        *,
        content_type: str = "application/cloudevents+json",
    ) -> list[str]:
        """Publish (confirmed, many in flight) events, raw bodies or (body, content type) pairs;
        returns the AMQP message ids, one per event."""
        ids: list[str] = []
        connection = await aio_pika.connect(self.amqp_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.declare_exchange("notifier.events", "topic", durable=True)
            pending = []
            for item in events:
                message_id = str(uuid.uuid4())
                kind = content_type
                if isinstance(item, tuple):
                    item, kind = item
                raw = item if isinstance(item, bytes) else json.dumps(item).encode()
                document = item if isinstance(item, dict) else _decoded(raw)
                key = document.get("type") if isinstance(document, dict) else None
                if not isinstance(key, str) or not key.isascii() or not key:
                    key = "fuzz.event.received"
                self.published[message_id] = document if isinstance(document, dict) else {}
                ids.append(message_id)
                message = aio_pika.Message(
                    raw,
                    content_type=kind,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=message_id,
                )
                pending.append(exchange.publish(message, routing_key=key[:255]))
                if len(pending) >= 200:
                    await asyncio.gather(*pending)
                    pending = []
            await asyncio.gather(*pending)
        return ids

    async def drain_dead(self) -> None:
        """Take every dead letter so far into ``self.dead`` (by message id)."""
        connection = await aio_pika.connect(self.amqp_url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue("notifier.dead", passive=True)
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                self.dead[str(message.message_id)] = dict(message.headers or {})

    async def rows(self) -> dict[tuple[str, str], list[tuple[str, str]]]:
        """(event source, event id) -> [(channel, status)] from the database."""
        conn = await asyncpg.connect(self.database_url.replace("+asyncpg", ""))
        try:
            records = await conn.fetch(
                "SELECT event_source, event_id, channel, status, provider_ref FROM notifications"
            )
        finally:
            await conn.close()
        found: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for r in records:
            # Only the intent recorded: the outcome is unknown until reconciled.
            unknown = r["status"] == "sending" and r["provider_ref"] is None
            found.setdefault((r["event_source"], r["event_id"]), []).append(
                (r["channel"], "sending-unknown" if unknown else r["status"])
            )
        return found

    async def tally(self, message_ids: Iterable[str] | None = None) -> Tally:
        """Account for each published event (or those of ``message_ids``) as it stands now."""
        await self.drain_dead()
        rows = await self.rows()
        wanted = list(message_ids if message_ids is not None else self.published)
        tally = Tally(sent=len(wanted))
        for message_id in wanted:
            item = self.published[message_id]
            if message_id in self.dead:
                reason = str(self.dead[message_id].get("x-notifier-reason", ""))
                tally.dead += 1
                tally.dead_reasons[reason or "(none)"] += 1
                if not reason:
                    tally.lost.append(message_id)  # a dead letter must say why
                continue
            statuses = {s for _, s in rows.get(_key(item), [])}
            if statuses & NOTIFIED:
                tally.notified += 1
            elif "suppressed" in statuses:
                tally.suppressed += 1
            elif statuses and statuses <= FAILED:
                tally.failed += 1
            else:
                tally.lost.append(message_id)
        receipts = self.sinks.receipts()
        # "?" gathers messages whose case reference a fuzzed event changed: they are distinct
        # events, not copies, so they cannot be counted as duplicates.
        tally.duplicated = sum(n - 1 for ref, n in receipts.items() if n > 1 and ref != "?")
        tally.seconds = time.monotonic() - self.started
        return tally

    async def settled(self, message_ids: Iterable[str] | None = None, timeout: float = 90) -> Tally:
        """Poll until every event is accounted for, or the deadline; the last tally either way."""
        wanted = list(message_ids if message_ids is not None else self.published)
        deadline = time.monotonic() + timeout
        while True:
            tally = await self.tally(wanted)
            if not tally.lost or time.monotonic() > deadline:
                return tally
            await asyncio.sleep(0.25)

    def report(self, name: str, tally: Tally) -> str:
        line = tally.line(name)
        REPORTS.append(line)
        print(line)
        return line


def _decoded(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _key(item: dict[str, Any]) -> tuple[str, str]:
    return str(item.get("source")), str(item.get("id"))


async def until(
    condition: Callable[[], Awaitable[bool]] | Callable[[], bool],
    timeout: float,
    what: str,
) -> None:
    """Poll ``condition`` every 50 ms until it holds; AssertionError naming ``what`` if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")


def accepted(sinks: Sinks) -> int:
    """Messages the providers have accepted so far."""
    return len(sinks.smtp.messages) + len(sinks.twilio.messages)


async def exit_code(service: ServiceProcess, timeout: float) -> int:
    """Wait (without blocking the loop the sinks run in) for the process to exit."""
    assert service.process is not None
    process = service.process
    await until(lambda: process.poll() is not None, timeout, "the service to exit")
    return int(process.returncode)
