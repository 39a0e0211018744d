"""``notifier bounces``: bounce intake from saved files (for a relay that can only drop files)."""

from __future__ import annotations

from pathlib import Path

import click

from notifier.cli import common


@click.group()
def bounces() -> None:
    """Bounces and complaints to the signed return paths."""


@bounces.command("ingest")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def ingest(files: tuple[Path, ...]) -> None:
    """Apply saved bounce messages (one RFC 5322 message per file, as received), each exactly
    as the listener would; prints one line per file: its kind and result."""
    from notifier.app import Service
    from notifier.errors import ConfigurationError

    service = Service(common.load())

    async def apply() -> list[str]:
        intake = service.bounce_intake()
        if intake is None:
            raise ConfigurationError("NOTIFIER_BOUNCE_KEY is required to ingest bounces")
        if service.settings.store.is_sqlite:
            from notifier.store import migrate

            await migrate.upgrade(service.engine)
        await service.broker.connect()
        lines = []
        try:
            for path in files:
                with path.open("rb") as file:  # no more than the limit, plus one to know
                    data = file.read(intake.limits.max_bytes + 1)
                applied = await intake.apply(data)
                lines.append(f"{path}: {applied.kind} {applied.result}")
        finally:
            await service.broker.close()
            await service.engine.dispose()
        return lines

    for line in common.run(apply()):
        click.echo(line)
