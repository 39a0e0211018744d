"""What every ``notifier`` command shares: settings, logging and the event loop."""

from __future__ import annotations

import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

import click
import uvloop

from notifier.errors import ConfigurationError, NotifierError
from notifier.settings import Settings, StoreSettings, load_settings

T = TypeVar("T")


def load() -> Settings:
    """The settings from the environment, with logging configured by them."""
    from notifier import logs

    settings = load_settings()
    logs.configure(settings.logging.format, settings.logging.level)
    return settings


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop: the event loop is a measurable share of the worker's CPU."""
    return uvloop.run(coro)


class Group(click.Group):
    """Turns the package's own errors into a one-line message and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigurationError as exc:
            click.echo(f"configuration error: {exc}", err=True)
            sys.exit(2)
        except NotifierError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


async def migrated_engine(store: StoreSettings) -> Any:
    """The database engine; on SQLite (development) the schema is brought up to date first."""
    from notifier.store import migrate
    from notifier.store.database import create_engine

    engine = create_engine(store.database_url.get_secret_value())
    if store.is_sqlite:
        await migrate.upgrade(engine)
    return engine
