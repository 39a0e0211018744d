"""The ``notifier`` command."""

from __future__ import annotations

import json
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import uvloop

from notifier.errors import ConfigurationError, NotifierError
from notifier.settings import Settings, load_settings

if TYPE_CHECKING:
    from notifier.worker.broker import Broker

T = TypeVar("T")


def _settings() -> Settings:
    from notifier import logs

    settings = load_settings()
    logs.configure(settings.log_format, settings.log_level)
    return settings


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop: the event loop is a measurable share of the worker's CPU."""
    return uvloop.run(coro)


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


async def _migrated_engine(settings: Settings) -> Any:
    """The database engine; on SQLite (development) the schema is brought up to date first."""
    from notifier.store import migrate
    from notifier.store.database import create_engine

    engine = create_engine(settings.database_url.get_secret_value())
    if settings.is_sqlite:
        await migrate.upgrade(engine)
    return engine


def _council(settings: Settings, council: str) -> str:
    from notifier.councils import load_councils

    if council not in load_councils(settings.councils_file):
        raise click.BadParameter(f"{council!r} is not a configured council", param_hint="--council")
    return council


@main.group()
def keys() -> None:
    """API keys for council systems (stored hashed; each works for one council only)."""


@keys.command("create")
@click.option("--council", required=True, help="The council the key works for, e.g. sdc.")
@click.option("--name", default=None, help="What the key is for, e.g. 'CRM sync'.")
def keys_create(council: str, name: str | None) -> None:
    """Create a key and print it, once: it is stored only as a hash and cannot be shown again."""
    from notifier.web.auth import KeyStore

    settings = _settings()
    _council(settings, council)

    async def create() -> tuple[str, str]:
        engine = await _migrated_engine(settings)
        try:
            record, key = await KeyStore(engine).create(council, name)
        finally:
            await engine.dispose()
        return record.id, key

    key_id, key = _run(create())
    click.echo(f"key {key_id} for {council}; copy it now, it will not be shown again:", err=True)
    click.echo(key)


@keys.command("list")
@click.option("--council", default=None, help="Only this council's keys.")
def keys_list(council: str | None) -> None:
    """Show keys (id, council, created, revoked, name); never the keys themselves."""
    from notifier.web.auth import ApiKey, KeyStore

    settings = _settings()

    async def listed() -> list[ApiKey]:
        engine = await _migrated_engine(settings)
        try:
            return await KeyStore(engine).list(council)
        finally:
            await engine.dispose()

    for key in _run(listed()):
        revoked = key.revoked_at.isoformat() if key.revoked_at else "-"
        click.echo(f"{key.id}\t{key.council}\t{key.created_at.isoformat()}\t{revoked}\t"
                   f"{key.name or '-'}")


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id; requests with it get 401 from then on."""
    from notifier.web.auth import KeyStore

    settings = _settings()

    async def revoke() -> bool:
        engine = await _migrated_engine(settings)
        try:
            return await KeyStore(engine).revoke(key_id)
        finally:
            await engine.dispose()

    if not _run(revoke()):
        raise click.ClickException(f"no live key {key_id}")
    click.echo(f"revoked {key_id}")


@main.group()
def customers() -> None:
    """Customers and their contact preferences."""


@customers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--council", required=True, help="The council the customers belong to.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the rejected rows (default: FILE.rejected.csv).")
def customers_import(file: Path, council: str, report: Path | None) -> None:
    """Create or replace customers from a CSV FILE (columns: docs/preferences.md).

    Rows that break a rule are left out and listed in the report by row number, column and
    rule, without their values. Exits 0 when the file was read, whatever was rejected.
    """
    import time

    from notifier.preferences.importer import (
        ImportResult,
        UnreadableFile,
        import_customers,
        write_report,
    )
    from notifier.preferences.store import PreferenceStore
    from notifier.templates.source import Catalogue

    settings = _settings()
    _council(settings, council)
    topics = {t.topic for t in Catalogue.load(settings.template_dir)}
    report = report or file.with_name(file.name + ".rejected.csv")

    async def load() -> ImportResult:
        engine = await _migrated_engine(settings)
        try:
            return await import_customers(
                file, council=council, store=PreferenceStore(engine), topics=topics,
                actor=f"import:{file.name}"[:100],
                allow_fiction_range=settings.sms_allow_fiction_range,
            )
        finally:
            await engine.dispose()

    started = time.monotonic()
    try:
        result = _run(load())
    except UnreadableFile as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    write_report(result, report)
    click.echo(
        f"{result.rows} rows: created {result.created}, replaced {result.replaced}, "
        f"rejected {result.rejected_rows} (report: {report}) in "
        f"{time.monotonic() - started:.1f}s"
    )



@main.group()
def letters() -> None:
    """Printed letters: the hand-over to the print provider and its reports.

    With NOTIFIER_LETTER_PROVIDER=folder or sftp, letters are rendered into the spool
    (NOTIFIER_SPOOL_DIR) and stay `created` until a dispatch hands them over; `notifier run` and
    `notifier worker` dispatch every day at NOTIFIER_LETTER_CUTOFF (Europe/London).
    """


async def _outcome_broker(settings: Settings) -> Broker:
    """A broker connection to publish outcomes with (the topology declared)."""
    from notifier.worker.broker import Broker

    broker = Broker(
        settings.amqp_url.get_secret_value(),
        settings.retry_delays,
        prefetch=1,
        max_deliveries=settings.max_deliveries,
    )
    await broker.connect()
    return broker


@letters.command("dispatch")
def letters_dispatch() -> None:
    """Hand every spooled letter to the print provider now, in one batch.

    The batch is a zip of the PDFs with manifest.csv (letter id, council, postage, pages,
    SHA-256), written to NOTIFIER_PRINT_DIR (folder) or uploaded to NOTIFIER_SFTP_DIR (sftp)
    under a temporary name and renamed when complete. Each letter then moves to `sending` and
    its outcome is published. A batch left part-way by an earlier run is finished first; safe
    to run again at any time: no letter is printed twice or dropped. Progress goes to stderr,
    the summary to stdout; exits 1 if another dispatch is running or a batch is stuck.
    """
    from notifier.letters.dispatch import DispatchResult, build_dispatcher

    settings = _settings()

    async def dispatch() -> DispatchResult:
        engine = await _migrated_engine(settings)
        try:
            broker = await _outcome_broker(settings)
            try:
                dispatcher = build_dispatcher(
                    settings, engine, broker, progress=lambda line: click.echo(line, err=True)
                )
                return await dispatcher.dispatch()
            finally:
                await broker.close()
        finally:
            await engine.dispose()

    result = _run(dispatch())
    click.echo(result.summary())
    if result.stuck:
        sys.exit(1)


@letters.command("ingest-report")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def letters_ingest_report(file: Path) -> None:
    """Apply a print provider's report FILE: letters to `posted` or `returned`.

    FILE is CSV with a header row: letter_id,status,date[,reason] (status posted or returned,
    date YYYY-MM-DD, reason an optional short code; docs/operations.md). An outcome is published
    for each letter whose status changed; a repeated report changes nothing. Bad rows and
    unknown letter ids are listed on stderr by row number and the rest is still applied.
    Exits 0 when the file was read, 1 when it is not a report at all.
    """
    from notifier.letters.reports import IngestResult, ReportUnreadable, build_ingester

    settings = _settings()

    async def ingest() -> IngestResult:
        engine = await _migrated_engine(settings)
        try:
            broker = await _outcome_broker(settings)
            try:
                return await build_ingester(settings, engine, broker).ingest_report(file)
            finally:
                await broker.close()
        finally:
            await engine.dispose()

    try:
        result = _run(ingest())
    except ReportUnreadable as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    for problem in result.problems:
        click.echo(f"{file.name}: {problem}", err=True)
    click.echo(f"{file.name}: {result.summary()}")


if __name__ == "__main__":
    main()
