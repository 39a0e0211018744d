"""The ``notifier`` command."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from notifier.errors import ConfigurationError, NotifierError
from notifier.settings import Settings, load_settings

T = TypeVar("T")


def _settings() -> Settings:
    from notifier import logs

    settings = load_settings()
    logs.configure(settings.log_format, settings.log_level)
    return settings


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class _Group(click.Group):
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


@click.group(cls=_Group)
@click.version_option(package_name="notifier")
def main() -> None:
    """notifier: case events from council systems in; email, text messages and letters out.

    Configuration comes from NOTIFIER_* environment variables (docs/configuration.md). With
    none set, it runs on embedded defaults: SQLite under ./var and file outboxes under
    ./var/outbox.
    """


@main.command()
def run() -> None:
    """Run the worker and the HTTP port (health, metrics, APIs) in one process.

    On SQLite the database migrations are applied first. Stops gracefully on SIGTERM/SIGINT.
    """
    from notifier.app import Service

    _run(Service(_settings()).run(worker=True, http=True))


@main.command()
def worker() -> None:
    """Run only the worker (no HTTP port)."""
    from notifier.app import Service

    _run(Service(_settings()).run(worker=True, http=False))


@main.command()
def web() -> None:
    """Run only the HTTP port (health, metrics, APIs, webhooks)."""
    from notifier.app import Service

    _run(Service(_settings()).run(worker=False, http=True))


@main.group()
def broker() -> None:
    """Broker topology."""


@broker.command("setup")
def broker_setup() -> None:
    """Declare the exchanges and queues of the topology (safe to repeat)."""
    from notifier.worker.broker import Broker

    settings = _settings()

    async def setup() -> None:
        b = Broker(
            settings.amqp_url.get_secret_value(),
            settings.retry_delays,
            prefetch=1,
            max_deliveries=settings.max_deliveries,
        )
        topology = await b.connect()
        await b.close()
        names = [
            "notifier.events",
            "notifier.outcomes",
            "notifier.dead",
            *(name for _, name in topology.retry_queues),
        ]
        click.echo("declared: " + ", ".join(names))

    _run(setup())


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Alembic revision.")
def db_upgrade(revision: str) -> None:
    """Apply the database migrations (SQLite or PostgreSQL)."""
    from notifier.store import migrate
    from notifier.store.database import create_engine

    settings = _settings()

    async def upgrade() -> None:
        engine = create_engine(settings.database_url.get_secret_value())
        try:
            await migrate.upgrade(engine, revision)
        finally:
            await engine.dispose()

    _run(upgrade())
    click.echo(f"database at {revision}")


@db.command("purge")
def db_purge() -> None:
    """Forget contact details older than NOTIFIER_RETENTION_DAYS (the history stays)."""
    from datetime import UTC, datetime, timedelta

    from notifier.store.database import create_engine
    from notifier.store.notifications import NotificationStore

    settings = _settings()

    async def purge() -> int:
        engine = create_engine(settings.database_url.get_secret_value())
        try:
            cutoff = datetime.now(UTC) - timedelta(days=settings.retention_days)
            return await NotificationStore(engine).purge_personal_data(cutoff)
        finally:
            await engine.dispose()

    click.echo(f"purged {_run(purge())} notifications")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def publish(files: tuple[Path, ...]) -> None:
    """Publish case events from JSON FILES (one event, or a list of events, per file) through
    the kombu publisher, waiting for the broker's confirm of each."""
    from notifier.publisher import Publisher

    settings = _settings()
    count = 0
    with Publisher(settings.amqp_url.get_secret_value()) as publisher:
        for path in files:
            try:
                loaded = json.loads(path.read_text("utf-8"))
            except (OSError, ValueError) as exc:
                raise click.ClickException(f"{path}: not JSON ({type(exc).__name__})") from None
            for event in loaded if isinstance(loaded, list) else [loaded]:
                publisher.publish(event)
                count += 1
    click.echo(f"published {count} event(s)")


@main.group()
def templates() -> None:
    """The template catalogue: list, check and preview."""


def _catalogue(settings: Settings) -> tuple[Any, Any]:
    from notifier.councils import load_councils
    from notifier.templates.source import Catalogue

    return Catalogue.load(settings.template_dir), load_councils(settings.councils_file)


@templates.command("list")
def templates_list() -> None:
    """Print every event type, one a line, with its topic, whether it is statutory, and its
    channels."""
    catalogue, _ = _catalogue(_settings())
    for event_type in catalogue.event_types():
        template = catalogue.get("", event_type)
        statutory = "statutory" if template.statutory else "-"
        click.echo(f"{event_type}\t{template.topic}\t{statutory}\temail,sms,letter")


@templates.command("check")
def templates_check() -> None:
    """Render every template for every council with its sample event and check the rules:
    sample variables, SMS fragments, sentence length, reading grade, words to avoid, subject
    length and letter pages. Prints a table; exits 1 if any template breaks a rule."""
    from notifier.templates.checks import run_checks

    catalogue, councils = _catalogue(_settings())
    table, findings = run_checks(catalogue, councils)
    click.echo(table)
    for finding in findings:
        click.echo(
            f"FAIL {finding.council} {finding.event_type} {finding.channel}: "
            f"{finding.rule}: {finding.detail}",
            err=True,
        )
    if findings:
        sys.exit(1)


@templates.command("preview")
@click.argument("event_type")
@click.option("--council", required=True, help="Council code, e.g. sdc or wdc.")
@click.option(
    "--channel",
    required=True,
    type=click.Choice(["email", "sms", "letter"]),
    help="email writes HTML, sms plain text, letter a PDF.",
)
@click.option("--large-print", is_flag=True, help="Letters: the large-print version.")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the rendered message.",
)
def templates_preview(
    event_type: str, council: str, channel: str, large_print: bool, out: Path
) -> None:
    """Render EVENT_TYPE's sample event for one council and channel and write it to --out."""
    from notifier.errors import InvalidEvent
    from notifier.model import Channel
    from notifier.preview import preview

    catalogue, councils = _catalogue(_settings())
    if council not in councils:
        raise click.BadParameter(f"unknown council {council!r}", param_hint="--council")
    try:
        rendered = preview(
            catalogue, councils, event_type, council, Channel(channel), large_print=large_print
        )
    except InvalidEvent as exc:
        raise click.ClickException(str(exc)) from None
    out.write_bytes(rendered.content)
    click.echo(f"wrote {out} ({rendered.summary})")


@main.group("dead-letters")
def dead_letters() -> None:
    """Inspect and replay events in notifier.dead."""


@dead_letters.command("list")
@click.option("--limit", default=50, show_default=True, help="How many to show.")
def dead_letters_list(limit: int) -> None:
    """Show dead letters (message id, event type, reason, detail); they stay in the queue."""
    from notifier.worker.deadletters import inspect

    settings = _settings()
    letters = _run(inspect(settings.amqp_url.get_secret_value(), limit=limit))
    for letter in letters:
        click.echo(
            f"{letter.message_id or '-'}\t{letter.event_type or '-'}\t"
            f"{letter.reason}\t{letter.detail}"
        )
    click.echo(f"{len(letters)} shown", err=True)


@dead_letters.command("replay")
@click.option("--reason", default=None, help="Only replay dead letters with this reason.")
@click.option("--limit", default=1000, show_default=True, help="At most this many.")
def dead_letters_replay(reason: str | None, limit: int) -> None:
    """Move dead letters back to the work queue to be processed again."""
    from notifier.worker.deadletters import replay

    settings = _settings()
    replayed, kept = _run(replay(settings.amqp_url.get_secret_value(), reason=reason, limit=limit))
    click.echo(f"replayed {replayed}, kept {kept}")


if __name__ == "__main__":
    main()
