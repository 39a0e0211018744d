"""The operational commands against the real broker and databases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import aio_pika
import pytest
from sqlalchemy import inspect

from notifier.publisher import Publisher, PublishError
from notifier.store.database import create_engine
from tests.events import make_event
from tests.service import drain


def notifier(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "notifier", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "NOTIFIER_LOG_FORMAT": "json", **env},
        timeout=60,
    )


def test_broker_setup_declares_the_topology(amqp_url: str) -> None:
    """`notifier broker setup` declares every exchange and queue of DESIGN.md, idempotently."""
    for _ in range(2):
        result = notifier("broker", "setup", NOTIFIER_AMQP_URL=amqp_url)
        assert result.returncode == 0, result.stderr
    for name in (
        "notifier.events",
        "notifier.outcomes",
        "notifier.dead",
        "notifier.retry.30s",
        "notifier.retry.2h",
    ):
        assert name in result.stdout


async def test_publish_command_uses_confirms_and_routes_by_type(
    amqp_url: str, tmp_path: Path
) -> None:
    """`notifier publish` sends each event in a file to notifier.events, keyed by its type."""
    assert notifier("broker", "setup", NOTIFIER_AMQP_URL=amqp_url).returncode == 0
    events = [make_event(), make_event()]
    path = tmp_path / "events.json"
    path.write_text(json.dumps(events))
    result = notifier("publish", str(path), NOTIFIER_AMQP_URL=amqp_url)
    assert result.returncode == 0, result.stderr
    assert "published 2 event(s)" in result.stdout
    got = await drain(amqp_url, "notifier.events", expect=2)
    assert [json.loads(m.body)["id"] for m in got] == [e["id"] for e in events]
    assert {m.routing_key for m in got} == {"planning.application.received"}
    assert got[0].content_type == "application/cloudevents+json"


def test_publisher_refuses_an_invalid_event_before_sending(amqp_url: str) -> None:
    """The kombu publisher validates first, so a council system sees its mistake at once."""
    bad = make_event()
    del bad["data"]["council"]
    with Publisher(amqp_url) as publisher, pytest.raises(PublishError, match="schema"):
        publisher.publish(bad)


def test_publish_of_a_file_that_is_not_json_is_a_clear_error(tmp_path: Path) -> None:
    """A broken file is reported by name, with a non-zero exit and no traceback."""
    path = tmp_path / "broken.json"
    path.write_text("{")
    result = notifier("publish", str(path))
    assert result.returncode == 1 and "broken.json: not JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_configuration_exits_2_naming_the_variable() -> None:
    """A bad variable stops any command at once with exit 2 and the variable's name."""
    result = notifier("db", "upgrade", NOTIFIER_HTTP_PORT="eighty")
    assert result.returncode == 2 and "NOTIFIER_HTTP_PORT" in result.stderr


async def test_db_upgrade_creates_the_schema_on_postgresql(postgres_url: str) -> None:
    """`notifier db upgrade` brings an empty PostgreSQL database to the current schema."""
    result = notifier("db", "upgrade", NOTIFIER_DATABASE_URL=postgres_url)
    assert result.returncode == 0, result.stderr
    engine = create_engine(postgres_url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
    finally:
        await engine.dispose()
    assert {"notifications", "status_history", "customers", "alembic_version"} <= set(tables)


async def test_dead_letters_list_and_replay(amqp_url: str) -> None:
    """Dead letters are listed without their bodies, and replay moves them to the work queue."""
    assert notifier("broker", "setup", NOTIFIER_AMQP_URL=amqp_url).returncode == 0
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for reason in ("schema", "delivery-failed"):
            await channel.default_exchange.publish(
                aio_pika.Message(
                    json.dumps(make_event()).encode(),
                    message_id=reason,
                    headers={"x-notifier-reason": reason, "x-notifier-detail": "data/council"},
                ),
                routing_key="notifier.dead",
            )
    listed = notifier("dead-letters", "list", NOTIFIER_AMQP_URL=amqp_url)
    assert listed.returncode == 0, listed.stderr
    assert "planning.application.received\tschema\tdata/council" in listed.stdout
    assert "alex@example.org" not in listed.stdout
    replayed = notifier(
        "dead-letters", "replay", "--reason", "delivery-failed", NOTIFIER_AMQP_URL=amqp_url
    )
    assert "replayed 1, kept 1" in replayed.stdout
    [back] = await drain(amqp_url, "notifier.events", expect=1)
    assert back.message_id == "delivery-failed" and "x-notifier-reason" not in back.headers
