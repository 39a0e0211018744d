"""The async engine: SQLite (embedded default) or PostgreSQL (production), and the few pieces
of SQL the two write differently (lists of values bound once, reads without a transaction)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, String, any_, bindparam, event, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
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


def among(column: ColumnElement[str], name: str, *, postgresql: bool) -> ColumnElement[bool]:
    """``column`` is one of the values bound as ``name`` when the statement runs (a list).

    On PostgreSQL ``= ANY($1::VARCHAR[])``: one statement text for any number of values, so
    asyncpg prepares it once per connection instead of once for each length of list it meets
    (https://www.postgresql.org/docs/current/functions-comparisons.html). SQLite keeps an
    expanding IN: its statements are prepared in the process, with no round trip. Build the
    statement once and bind the values at each execution: building it for each batch costs more
    than the Parse it saves."""
    if postgresql:
        return column == any_(bindparam(name, type_=ARRAY(String)))
    return column.in_(bindparam(name, expanding=True))


def pairs_among(
    first: ColumnElement[str], second: ColumnElement[str], name: str, *, postgresql: bool
) -> ColumnElement[bool]:
    """``(first, second)`` is one of the pairs bound with ``pairs_bound(name, ...)``; likewise
    one statement text on PostgreSQL, where the pairs are two arrays zipped by ``unnest``
    (https://www.postgresql.org/docs/current/functions-array.html)."""
    if not postgresql:
        return tuple_(first, second).in_(bindparam(name, expanding=True))
    zipped = (
        func.unnest(
            bindparam(f"{name}_first", type_=ARRAY(String)),
            bindparam(f"{name}_second", type_=ARRAY(String)),
        )
        .table_valued("first", "second")
        .render_derived()
    )
    return tuple_(first, second).in_(select(zipped.c.first, zipped.c.second))


def pairs_bound(name: str, pairs: Iterable[tuple[str, str]], *, postgresql: bool) -> dict[str, Any]:
    """The parameters of a ``pairs_among(..., name, ...)``."""
    pairs = list(pairs)
    if not postgresql:
        return {name: pairs}
    return {f"{name}_first": [a for a, _ in pairs], f"{name}_second": [b for _, b in pairs]}
