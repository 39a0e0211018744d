"""Evidence of service for statutory notices: export it for a case."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from notifier.cli import common
from notifier.settings import Settings


@click.group()
def evidence() -> None:
    """Evidence of service: the exact email, text or letter each statutory notice went out as.

    Kept write-once in NOTIFIER_EVIDENCE_DIR, or the S3 bucket of NOTIFIER_EVIDENCE_URL, for
    NOTIFIER_EVIDENCE_YEARS (or the council's evidence_years), outside the retention purge and
    customer erasure (docs/operations.md, "Evidence of service").
    """


@evidence.command("export")
@click.option("--case", "case_reference", required=True, help="The council's case reference.")
@click.option("--council", required=True, help="The council the case belongs to, e.g. sdc.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The zip file to write (index.json, then a folder per notification).",
)
def evidence_export(case_reference: str, council: str, out: Path) -> None:
    """Write the evidence of every statutory notice sent about one case to a zip, with an
    index of manifests (hash, template version, channel, provider reference, statuses); exits 1
    when the case has none."""
    settings = common.load()
    if council not in _councils(settings):
        click.echo(f"error: council {council!r} is not configured", err=True)
        sys.exit(2)

    async def collect() -> tuple[int, bytes | None]:
        from notifier.evidence import open_evidence
        from notifier.store.notifications import NotificationStore

        store = await open_evidence(settings.store)
        engine = await common.migrated_engine(settings.store)
        try:
            rows = await NotificationStore(engine).for_case(council, case_reference)
        finally:
            await engine.dispose()
        current = {row.id: str(row.status) for row in rows}
        return len(current), await store.bundle(council, current)

    count, bundle = common.run(collect())
    if bundle is None:
        click.echo(
            f"no evidence for case {case_reference!r} at {council} "
            f"({count} notification(s), none a statutory notice that was sent)",
            err=True,
        )
        sys.exit(1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(bundle)
    click.echo(f"wrote {out} ({len(bundle):,} bytes)")


def _councils(settings: Settings) -> set[str]:
    from notifier.councils import load_councils

    return set(load_councils(settings.files.councils_file))
