"""The template catalogue: list, check and preview."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from notifier.cli import common
from notifier.settings import FileSettings


@click.group()
def templates() -> None:
    """The template catalogue: list, check and preview."""


def _catalogue(files: FileSettings) -> tuple[Any, Any]:
    from notifier.councils import load_councils
    from notifier.templates.source import Catalogue

    return Catalogue.load(files.template_dir), load_councils(files.councils_file)


@templates.command("list")
def templates_list() -> None:
    """Print every event type, one a line, with its topic, whether it is statutory, and its
    channels."""
    catalogue, _ = _catalogue(common.load().files)
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

    catalogue, councils = _catalogue(common.load().files)
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

    catalogue, councils = _catalogue(common.load().files)
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
