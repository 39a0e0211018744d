"""Customers and the API keys of the council systems that manage them."""

from __future__ import annotations

import time
from pathlib import Path

import click

from notifier.cli import common
from notifier.settings import FileSettings


def _council(files: FileSettings, council: str) -> str:
    from notifier.councils import load_councils

    if council not in load_councils(files.councils_file):
        raise click.BadParameter(f"{council!r} is not a configured council", param_hint="--council")
    return council


@click.group()
def keys() -> None:
    """API keys for council systems (stored hashed; each works for one council only)."""


@keys.command("create")
@click.option("--council", required=True, help="The council the key works for, e.g. sdc.")
@click.option("--name", default=None, help="What the key is for, e.g. 'CRM sync'.")
def keys_create(council: str, name: str | None) -> None:
    """Create a key and print it, once: it is stored only as a hash and cannot be shown again."""
    from notifier.web.auth import KeyStore

    settings = common.load()
    _council(settings.files, council)

    async def create() -> tuple[str, str]:
        engine = await common.migrated_engine(settings.store)
        try:
            record, key = await KeyStore(engine).create(council, name)
        finally:
            await engine.dispose()
        return record.id, key

    key_id, key = common.run(create())
    click.echo(f"key {key_id} for {council}; copy it now, it will not be shown again:", err=True)
    click.echo(key)


@keys.command("list")
@click.option("--council", default=None, help="Only this council's keys.")
def keys_list(council: str | None) -> None:
    """Show keys (id, council, created, revoked, name); never the keys themselves."""
    from notifier.web.auth import ApiKey, KeyStore

    settings = common.load()

    async def listed() -> list[ApiKey]:
        engine = await common.migrated_engine(settings.store)
        try:
            return await KeyStore(engine).list(council)
        finally:
            await engine.dispose()

    for key in common.run(listed()):
        revoked = key.revoked_at.isoformat() if key.revoked_at else "-"
        click.echo(
            f"{key.id}\t{key.council}\t{key.created_at.isoformat()}\t{revoked}\t{key.name or '-'}"
        )


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id; requests with it get 401 from then on."""
    from notifier.web.auth import KeyStore

    settings = common.load()

    async def revoke() -> bool:
        engine = await common.migrated_engine(settings.store)
        try:
            return await KeyStore(engine).revoke(key_id)
        finally:
            await engine.dispose()

    if not common.run(revoke()):
        raise click.ClickException(f"no live key {key_id}")
    click.echo(f"revoked {key_id}")


@click.group()
def customers() -> None:
    """Customers and their contact preferences."""


@customers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--council", required=True, help="The council the customers belong to.")
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the rejected rows (default: FILE.rejected.csv).",
)
def customers_import(file: Path, council: str, report: Path | None) -> None:
    """Create or replace customers from a CSV FILE (columns: docs/preferences.md).

    Rows that break a rule are left out and listed in the report by row number, column and
    rule, without their values. Exits 0 when the file was read, whatever was rejected.
    """

    from notifier.preferences.importer import (
        ImportResult,
        UnreadableFile,
        import_customers,
        write_report,
    )
    from notifier.preferences.store import PreferenceStore
    from notifier.templates.source import Catalogue

    settings = common.load()
    _council(settings.files, council)
    topics = {t.topic for t in Catalogue.load(settings.files.template_dir)}
    report = report or file.with_name(file.name + ".rejected.csv")

    async def load() -> ImportResult:
        engine = await common.migrated_engine(settings.store)
        try:
            return await import_customers(
                file,
                council=council,
                store=PreferenceStore(engine),
                topics=topics,
                actor=f"import:{file.name}"[:100],
                allow_fiction_range=settings.sms.allow_fiction_range,
            )
        finally:
            await engine.dispose()

    started = time.monotonic()
    try:
        result = common.run(load())
    except UnreadableFile as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    write_report(result, report)
    click.echo(
        f"{result.rows} rows: created {result.created}, replaced {result.replaced}, "
        f"rejected {result.rejected_rows} (report: {report}) in "
        f"{time.monotonic() - started:.1f}s"
    )
