"""End to end: the real ``notifier run`` process, the real RabbitMQ, files and records."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from notifier.preferences.model import Preferences
from notifier.preferences.store import PreferenceStore
from notifier.store.database import create_engine
from notifier.store.notifications import NotificationStore
from notifier.store.tables import notifications
from notifier.web.auth import KeyStore
from tests.events import make_event
from tests.service import ServiceProcess, bind_outcomes, drain, publish_raw


@pytest.fixture
def service(tmp_path: Path, amqp_url: str):  # type: ignore[no-untyped-def]
    proc = ServiceProcess(tmp_path, amqp_url)
    yield proc
    proc.stop()


async def wait_for_files(folder: Path, count: int, timeout: float) -> list[Path]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(folder.glob("*")) if folder.exists() else []
        found = [p for p in found if not p.name.startswith(".")]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"{len(found)} of {count} files in {folder} after {timeout}s")


async def test_event_from_any_amqp_client_reaches_outbox_within_two_seconds(
    service: ServiceProcess, amqp_url: str
) -> None:
    """A raw aio-pika publish produces the outbox file within 2 s, a record with its history,
    an outcome event, and the HTTP port answers health, readiness and metrics."""
    await bind_outcomes(amqp_url, "test.outcomes")
    service.start()
    await service.wait_ready()
    event = make_event()
    started = time.monotonic()
    await publish_raw(amqp_url, [event])
    [eml] = await wait_for_files(service.outbox / "email", 1, timeout=2.0)
    assert time.monotonic() - started < 2.0
    assert b"Subject: We have your planning application" in eml.read_bytes()

    engine = create_engine(service.database_url)
    try:
        store = NotificationStore(engine)
        await service.wait_processed(1)  # the record is committed just after the file is written
        [row] = await store.for_event(event["source"], event["id"])
        assert row.status == "sent" and eml.name == f"{row.id}.eml"
        assert [h.status for h in await store.history(row.id)] == ["created", "sent"]
    finally:
        await engine.dispose()
    [outcome] = await drain(amqp_url, "test.outcomes", expect=1)
    assert outcome.routing_key == "notification.sent"
    assert json.loads(outcome.body)["data"]["event_id"] == event["id"]

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}") as client:
        assert (await client.get("/healthz")).status_code == 200
        ready = (await client.get("/readyz")).json()
        assert ready["checks"] == {"broker": True, "database": True}
        metrics = (await client.get("/metrics")).text
    assert (
        'notifier_notifications_total{channel="email",council="sdc",status="sent"} 1.0' in metrics
    )
    received = 'notifier_events_received_total{event_type="planning.application.received"} 1.0'
    assert received in metrics
    assert "alex@example.org" not in service.logs()


async def test_invalid_events_are_dead_lettered_and_the_worker_keeps_going(
    service: ServiceProcess, amqp_url: str
) -> None:
    """Bad JSON, a schema violation, an unknown type and a missing personalisation value each
    land in notifier.dead with the right reason header; a good event after them is still sent."""
    service.start()
    await service.wait_ready()
    bad: list[dict[str, Any] | bytes] = [
        b"{this is not json",
        json.dumps({**make_event(), "specversion": "0.3"}).encode(),
        make_event(type="parking.permit.eaten"),
        make_event(personalisation={"decision_due": "2027-01-24"}),
    ]
    good = make_event()
    await publish_raw(amqp_url, [*bad, good])
    dead = await drain(amqp_url, "notifier.dead", expect=4)
    reasons = sorted(m.headers["x-notifier-reason"] for m in dead)
    assert reasons == ["invalid-json", "missing-personalisation", "schema", "unknown-event-type"]
    assert all(m.headers["x-notifier-detail"] for m in dead)
    await wait_for_files(service.outbox / "email", 1, timeout=5)
    assert service.process and service.process.poll() is None


async def test_same_event_published_twice_produces_one_notification(
    service: ServiceProcess, amqp_url: str
) -> None:
    """Publishing one event twice gives one outbox file and one record."""
    service.start()
    await service.wait_ready()
    event = make_event()
    marker = make_event()
    await publish_raw(amqp_url, [event, event, marker])
    await service.wait_processed(3)
    engine = create_engine(service.database_url)
    try:
        async with engine.connect() as conn:
            count = (
                await conn.execute(
                    select(func.count())
                    .select_from(notifications)
                    .where(notifications.c.event_id == event["id"])
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    assert count == 1
    assert len(list((service.outbox / "email").glob("*.eml"))) == 2


async def test_sigterm_finishes_in_flight_work_and_exits_zero(
    service: ServiceProcess, amqp_url: str
) -> None:
    """SIGTERM stops consuming, finishes what is in flight and exits 0."""
    service.start()
    await service.wait_ready()
    await publish_raw(amqp_url, [make_event() for _ in range(50)])
    await wait_for_files(service.outbox / "email", 1, timeout=5)
    service.signal(signal.SIGTERM)
    assert service.wait(30) == 0
    logs = service.logs()
    assert "service.stopped" in logs


async def test_extra_worker_processes_consume_and_stop_with_the_service(
    service: ServiceProcess, amqp_url: str
) -> None:
    """NOTIFIER_WORKER_PROCESSES=2 puts two consumers on the work queue; SIGTERM stops both."""
    import aio_pika
    import psutil

    service.env["NOTIFIER_WORKER_PROCESSES"] = "2"
    service.start()
    await service.wait_ready()
    deadline = time.monotonic() + 30
    consumers = 0
    while time.monotonic() < deadline and consumers < 2:
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue("notifier.events", passive=True)
            consumers = queue.declaration_result.consumer_count or 0
        await asyncio.sleep(0.1)
    assert consumers == 2
    assert service.process is not None
    children = psutil.Process(service.process.pid).children()
    assert len(children) == 1
    await publish_raw(amqp_url, [make_event() for _ in range(20)])
    await wait_for_files(service.outbox / "email", 20, timeout=10)
    service.signal(signal.SIGTERM)
    assert service.wait(40) == 0
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []
    assert service.logs().count('"service.stopped"') == 2  # both stopped gracefully


async def test_email_through_smtp_arrives_with_text_html_and_every_header(
    tmp_path: Path, amqp_url: str
) -> None:
    """With NOTIFIER_EMAIL_PROVIDER=smtp, the relay receives one message that parses into a
    text and an HTML part with Date, Message-ID, From, Reply-To and, for an optional message,
    the RFC 8058 one-click unsubscribe headers pointing at our endpoint."""
    from email import message_from_bytes, policy

    from tests.fakes.smtp import FakeSmtpServer

    async with FakeSmtpServer() as relay:
        service = ServiceProcess(
            tmp_path,
            amqp_url,
            NOTIFIER_EMAIL_PROVIDER="smtp",
            NOTIFIER_SMTP_HOST=relay.host,
            NOTIFIER_SMTP_PORT=str(relay.port),
            NOTIFIER_SMTP_TLS="none",
            NOTIFIER_PUBLIC_URL="https://notify.example.gov.uk",
        )
        try:
            service.start()
            await service.wait_ready()
            # A stored customer: only they have a record an unsubscribe can change.
            engine = create_engine(service.database_url)
            try:
                await PreferenceStore(engine).put(
                    Preferences(
                        council="sdc",
                        customer_id="SDC-000123",
                        email="alex@example.org",
                        quiet_hours=None,
                    ),
                    actor="test",
                )
            finally:
                await engine.dispose()
            await publish_raw(amqp_url, [make_event()])
            deadline = time.monotonic() + 10
            while not relay.messages and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        finally:
            await asyncio.to_thread(service.stop)  # the relay lives in this loop: keep it going
    [received] = relay.messages
    assert received.rcpt_tos == ("alex@example.org",)
    mail = message_from_bytes(received.data, policy=policy.default)
    assert mail.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "24/01234/FUL" in text and '<html lang="en-GB"' in html
    assert mail["From"] == "Stratford-on-Avon District Council <notifications@stratford.gov.uk>"
    assert mail["Reply-To"] == "customer.services@stratford.gov.uk"
    assert mail["Message-ID"].endswith("@stratford.gov.uk>") and mail["Date"]
    assert mail["List-Unsubscribe"].startswith("<https://notify.example.gov.uk/unsubscribe/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


async def test_unusable_details_fall_back_to_post_and_texts_go_in_e164(
    service: ServiceProcess, amqp_url: str
) -> None:
    """On outbox defaults, an event with a landline, a bad email and an address posts the
    letter and records why email and SMS could not be used; a valid 07723 456789 reaches the
    SMS outbox as +447723456789."""
    service.start()
    await service.wait_ready()
    address = ["10 High Street", "Stratford-upon-Avon", "CV37 6AA"]
    landline = make_event(
        recipient={
            "customer_id": "SDC-E2E-1",
            "email": "alex@",
            "mobile": "020 7946 0991",
            "address": address,
        }
    )
    mobile = make_event(recipient={"customer_id": "SDC-E2E-2", "mobile": "07723 456789"})
    await publish_raw(amqp_url, [landline, mobile])
    [pdf] = await wait_for_files(service.outbox / "letter", 1, timeout=10.0)
    [text] = await wait_for_files(service.outbox / "sms", 1, timeout=10.0)
    assert json.loads(text.read_text())["to"] == "+447723456789"
    await service.wait_processed(2)
    engine = create_engine(service.database_url)
    try:
        store = NotificationStore(engine)
        rows = {r.channel: r for r in await store.for_event(landline["source"], landline["id"])}
        [sms] = await store.for_event(mobile["source"], mobile["id"])
    finally:
        await engine.dispose()
    assert {c: (str(r.status), r.reason) for c, r in rows.items()} == {
        "email": ("permanent-failure", "invalid-email"),
        "sms": ("permanent-failure", "invalid-mobile"),
        "letter": ("sent", None),
    }
    assert pdf.name == f"{rows['letter'].id}.pdf"
    assert (sms.channel, str(sms.status), text.name) == ("sms", "sent", f"{sms.id}.json")
    assert "7946" not in service.logs() and "456789" not in service.logs()


async def test_send_after_three_seconds_goes_out_at_three_seconds_not_before(
    service: ServiceProcess, amqp_url: str
) -> None:
    """Through the running service: an event due in 3 s is recorded at once as waiting, and
    its email reaches the outbox no sooner than its send time (released from the database)."""
    service.start()
    await service.wait_ready()
    due = datetime.now(UTC) + timedelta(seconds=3)
    event = make_event()
    event["data"]["send_after"] = due.isoformat()
    await publish_raw(amqp_url, [event])
    [eml] = await wait_for_files(service.outbox / "email", 1, timeout=15.0)
    assert datetime.now(UTC) >= due
    engine = create_engine(service.database_url)
    try:
        await service.wait_processed(2)  # the first run (scheduled), then the released one
        [row] = await NotificationStore(engine).for_event(event["source"], event["id"])
        assert eml.name == f"{row.id}.eml"
        reasons = [(h.status, h.reason) for h in await NotificationStore(engine).history(row.id)]
        assert reasons[:2] == [("created", None), ("created", "scheduled")]
        assert reasons[-1][0] == "sent"
    finally:
        await engine.dispose()


async def test_reminder_two_days_ahead_is_withdrawn_when_the_appointment_is_cancelled(
    service: ServiceProcess, amqp_url: str
) -> None:
    """Through the running service: a repair reminder due in two days, then the appointment
    cancelled: no reminder is sent, it is cancelled with the withdrawing event's id, and the
    case's history endpoint shows both events and the withdrawal."""
    service.start()
    await service.wait_ready()
    case = "RP-2027-555"
    reminder = make_event(
        type="housing.repair-appointment.reminder",
        subject=case,
        personalisation={
            "repair": "the leaking pipe",
            "appointment_date": "2027-09-22",
            "arrive_from": "2027-09-22T08:00:00",
            "arrive_by": "2027-09-22T12:00:00",
        },
    )
    reminder["data"]["send_after"] = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    cancelled = make_event(
        type="housing.repair-appointment.cancelled",
        subject=case,
        personalisation={"repair": "the leaking pipe", "appointment_date": "2027-09-22"},
    )
    await publish_raw(amqp_url, [reminder])
    await service.wait_processed(1)
    await publish_raw(amqp_url, [cancelled])
    [eml] = await wait_for_files(service.outbox / "email", 1, timeout=10.0)
    assert b"cancelled" in eml.read_bytes()
    await service.wait_processed(2)
    engine = create_engine(service.database_url)
    try:
        _, key = await KeyStore(engine).create("sdc", "test")
    finally:
        await engine.dispose()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}") as client:
        answer = await client.get(
            f"/api/v1/councils/sdc/cases/{case}/notifications",
            headers={"Authorization": f"Bearer {key}"},
        )
    assert answer.status_code == 200, answer.text
    listed = {n["event_type"]: n for n in answer.json()["notifications"]}
    assert listed["housing.repair-appointment.cancelled"]["status"] == "sent"
    withdrawn = listed["housing.repair-appointment.reminder"]
    assert (withdrawn["status"], withdrawn["reason"]) == (
        "cancelled",
        f"withdrawn-by:{cancelled['id']}",
    )
    assert [(h["status"], h["reason"]) for h in withdrawn["history"]] == [
        ("created", None),
        ("created", "scheduled"),
        ("cancelled", f"withdrawn-by:{cancelled['id']}"),
    ]
    assert len(list((service.outbox / "email").iterdir())) == 1
