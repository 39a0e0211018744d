"""The async engine: SQLite (embedded default) or PostgreSQL (production)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from notifier.errors import ConfigurationError


def create_engine(url: str) -> AsyncEngine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and its directory created."""
    try:
        parsed = make_url(url)
    except Exception:
        raise ConfigurationError("NOTIFIER_DATABASE_URL: not a database URL") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(parsed, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.get_driver_name() != "asyncpg":
            raise ConfigurationError("NOTIFIER_DATABASE_URL: use postgresql+asyncpg://")
        return create_async_engine(
            # No pre-ping: a connection the server dropped fails its first statement, which
            # invalidates it; the group commit then replays its operations on fresh ones.
            parsed,
            pool_size=10,
            max_overflow=10,
            hide_parameters=True,
        )
    raise ConfigurationError("NOTIFIER_DATABASE_URL: only sqlite and postgresql are supported")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


async def ping(engine: AsyncEngine) -> bool:
    """Whether the database answers a trivial query."""
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:
        return False
    return True
