"""Running the service and operating it: run, worker, web, broker, db, publish, dead letters."""

from __future__ import annotations

import json
from pathlib import Path

import click

from notifier.cli import common


@click.command()
@click.option(
    "--no-jobs",
    is_flag=True,
    help="No scheduled jobs (retention purge, letter cut-off, print reports) and no extra "
    "worker processes: for the scaled replicas of a deployment where one other process runs "
    "the jobs.",
)
def run(no_jobs: bool) -> None:
    """Run the worker and the HTTP port (health, metrics, APIs) in one process.

    On SQLite the database migrations are applied first. Stops gracefully on SIGTERM/SIGINT.
    """
    from notifier.app import Service

    common.run(Service(common.load()).run(worker=True, http=True, jobs=not no_jobs))


@click.command()
@click.option(
    "--consume-only",
    is_flag=True,
    hidden=True,
    help="Only consume: no scheduled jobs (for the extra processes `run` starts itself).",
)
def worker(consume_only: bool) -> None:
    """Run only the worker (no HTTP port)."""
    from notifier.app import Service

    common.run(Service(common.load()).run(worker=True, http=False, jobs=not consume_only))


@click.command()
def web() -> None:
    """Run only the HTTP port (health, metrics, APIs, webhooks)."""
    from notifier.app import Service

    common.run(Service(common.load()).run(worker=False, http=True))


@click.group()
def broker() -> None:
    """Broker topology."""


@broker.command("setup")
def broker_setup() -> None:
    """Declare the exchanges and queues of the topology (safe to repeat)."""
    from notifier.worker.broker import Broker

    settings = common.load()

    async def setup() -> None:
        b = Broker.from_settings(settings.worker, prefetch=1)
        topology = await b.connect()
        await b.close()
        names = [
            "notifier.events",
            "notifier.outcomes",
            "notifier.dead",
            *(name for _, name in topology.retry_queues),
        ]
        click.echo("declared: " + ", ".join(names))

    common.run(setup())


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Alembic revision.")
def db_upgrade(revision: str) -> None:
    """Apply the database migrations (SQLite or PostgreSQL)."""
    from notifier.store import migrate
    from notifier.store.database import create_engine

    settings = common.load()

    async def upgrade() -> None:
        engine = create_engine(settings.store.database_url.get_secret_value())
        try:
            await migrate.upgrade(engine, revision)
        finally:
            await engine.dispose()

    common.run(upgrade())
    click.echo(f"database at {revision}")


@db.command("purge")
def db_purge() -> None:
    """Forget contact details older than NOTIFIER_RETENTION_DAYS (the history stays)."""
    from datetime import UTC, datetime, timedelta

    from notifier.store.database import create_engine
    from notifier.store.notifications import NotificationStore

    settings = common.load()

    async def purge() -> int:
        engine = create_engine(settings.store.database_url.get_secret_value())
        try:
            cutoff = datetime.now(UTC) - timedelta(days=settings.store.retention_days)
            return await NotificationStore(engine).purge_personal_data(cutoff)
        finally:
            await engine.dispose()

    click.echo(f"purged {common.run(purge())} notifications")


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def publish(files: tuple[Path, ...]) -> None:
    """Publish case events from JSON FILES (one event, or a list of events, per file) through
    the kombu publisher, waiting for the broker's confirm of each."""
    from notifier.publisher import Publisher

    settings = common.load()
    count = 0
    with Publisher(settings.worker.amqp_url.get_secret_value()) as publisher:
        for path in files:
            try:
                loaded = json.loads(path.read_text("utf-8"))
            except (OSError, ValueError) as exc:
                raise click.ClickException(f"{path}: not JSON ({type(exc).__name__})") from None
            for event in loaded if isinstance(loaded, list) else [loaded]:
                publisher.publish(event)
                count += 1
    click.echo(f"published {count} event(s)")


@click.group("dead-letters")
def dead_letters() -> None:
    """Inspect and replay events in notifier.dead."""


@dead_letters.command("list")
@click.option("--limit", default=50, show_default=True, help="How many to show.")
def dead_letters_list(limit: int) -> None:
    """Show dead letters (message id, event type, reason, detail); they stay in the queue."""
    from notifier.worker.deadletters import inspect

    settings = common.load()
    letters = common.run(inspect(settings.worker.amqp_url.get_secret_value(), limit=limit))
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

    settings = common.load()
    url = settings.worker.amqp_url.get_secret_value()
    replayed, kept = common.run(replay(url, reason=reason, limit=limit))
    click.echo(f"replayed {replayed}, kept {kept}")


COMMANDS = (run, worker, web, broker, db, publish, dead_letters)
