"""Printed letters: dispatch to the print house and its reports."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from notifier.cli import common
from notifier.settings import WorkerSettings

if TYPE_CHECKING:
    from notifier.worker.broker import Broker


@click.group()
def letters() -> None:
    """Printed letters: the hand-over to the print provider and its reports.

    With NOTIFIER_LETTER_PROVIDER=folder or sftp, letters are rendered into the spool
    (NOTIFIER_SPOOL_DIR) and stay `created` until a dispatch hands them over; `notifier run` and
    `notifier worker` dispatch every day at NOTIFIER_LETTER_CUTOFF (Europe/London).
    """


async def _outcome_broker(worker: WorkerSettings) -> Broker:
    """A broker connection to publish outcomes with (the topology declared)."""
    from notifier.worker.broker import Broker

    broker = Broker.from_settings(worker, prefetch=1)
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
    from notifier.printhouse.dispatch import DispatchResult, build_dispatcher

    settings = common.load()

    async def dispatch() -> DispatchResult:
        engine = await common.migrated_engine(settings.store)
        try:
            broker = await _outcome_broker(settings.worker)
            try:
                dispatcher = build_dispatcher(
                    settings.letters,
                    engine,
                    broker,
                    progress=lambda line: click.echo(line, err=True),
                )
                return await dispatcher.dispatch()
            finally:
                await broker.close()
        finally:
            await engine.dispose()

    result = common.run(dispatch())
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
    from notifier.printhouse.reports import IngestResult, ReportUnreadable, build_ingester

    settings = common.load()

    async def ingest() -> IngestResult:
        engine = await common.migrated_engine(settings.store)
        try:
            broker = await _outcome_broker(settings.worker)
            try:
                return await build_ingester(settings.letters, engine, broker).ingest_report(file)
            finally:
                await broker.close()
        finally:
            await engine.dispose()

    try:
        result = common.run(ingest())
    except ReportUnreadable as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    for problem in result.problems:
        click.echo(f"{file.name}: {problem}", err=True)
    click.echo(f"{file.name}: {result.summary()}")
