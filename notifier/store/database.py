"""The async engine: SQLite (embedded default) or PostgreSQL (production)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, String, any_, event, func, literal, select, text, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

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


def without_transaction(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` for reads that are one SELECT each: on PostgreSQL its connections run in
    autocommit, so such a read is one round trip instead of three (SQLAlchemy begins a
    transaction for every connection, and its pool rolls it back on return). One statement sees
    one snapshot on its own (https://www.postgresql.org/docs/current/transaction-iso.html).
    SQLite's driver begins no transaction for a SELECT anyway, so its engine is returned as is."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


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


def among(
    conn: AsyncConnection, column: ColumnElement[str], values: Iterable[str]
) -> ColumnElement[bool]:
    """``column IN values``, as the same statement text for any number of values on PostgreSQL
    (``= ANY($1::VARCHAR[])``), so that asyncpg prepares it once per connection instead of once
    for each length of list it meets (https://www.postgresql.org/docs/current/functions-comparisons.html).
    SQLite keeps the IN list: its statements are prepared in the process, with no round trip."""
    if conn.dialect.name == "postgresql":
        return column == any_(literal(list(values), ARRAY(String)))
    return column.in_(list(values))


def pairs_among(
    conn: AsyncConnection,
    first: ColumnElement[str],
    second: ColumnElement[str],
    pairs: Iterable[tuple[str, str]],
) -> ColumnElement[bool]:
    """``(first, second) IN pairs``, likewise one statement text on PostgreSQL: the pairs are
    two arrays zipped by ``unnest`` (https://www.postgresql.org/docs/current/functions-array.html)."""
    pairs = list(pairs)
    if conn.dialect.name != "postgresql":
        return tuple_(first, second).in_(pairs)
    zipped = (
        func.unnest(
            literal([a for a, _ in pairs], ARRAY(String)),
            literal([b for _, b in pairs], ARRAY(String)),
        )
        .table_valued("first", "second")
        .render_derived()
    )
    return tuple_(first, second).in_(select(zipped.c.first, zipped.c.second))
