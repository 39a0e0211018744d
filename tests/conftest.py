"""Shared fixtures: a RabbitMQ vhost per test, SQLite and PostgreSQL databases, a store."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.store import migrate
from notifier.store.database import create_engine

AMQP_ROOT = "amqp://guest:guest@127.0.0.1:5672/"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture
def amqp_url() -> Iterator[str]:
    """A fresh RabbitMQ vhost for one test, so runs and tests never see each other's queues."""
    vhost = f"notifier-test-{uuid.uuid4().hex[:12]}"
    _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield f"{AMQP_ROOT}{vhost}"
    finally:
        subprocess.run(
            ["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True, timeout=60
        )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for the session."""
    name = f"notifier_test_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated, empty database."""
    engine = create_engine(database_url)
    await migrate.upgrade(engine)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            from sqlalchemy import text

            await conn.execute(
                text(
                    "TRUNCATE status_history, notifications, customers, customer_audit, api_keys,"
                    " letter_batches, letter_spool, scheduled_events"
                    " CASCADE"
                )
            )
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def notifier_bin() -> str:
    """The installed ``notifier`` console script."""
    path = shutil.which("notifier", path=os.path.dirname(os.sys.executable))  # type: ignore[attr-defined]
    assert path, "notifier console script is not installed"
    return path
