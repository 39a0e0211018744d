"""``notifier templates list | check | preview`` and council overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from notifier.cli import main
from notifier.councils import load_councils
from notifier.model import Channel
from notifier.preview import preview
from notifier.templates.source import Catalogue

SHIPPED = Path(__file__).parent.parent / "notifier" / "templates" / "catalogue"
TYPE = "waste.missed-collection.reported"


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env or {})
    return result.exit_code, result.output


def test_list_prints_every_type_with_topic() -> None:
    """Each catalogue type is printed once, a line each, with its topic."""
    code, output = run("templates", "list")
    lines = output.strip().splitlines()
    assert code == 0 and len(lines) == len(Catalogue.load().event_types())
    assert f"{TYPE}\twaste\t-\temail,sms,letter" in lines


def test_check_passes_on_the_shipped_catalogue() -> None:
    """The shipped catalogue passes every rule for every council."""
    code, output = run("templates", "check")
    assert code == 0, output
    assert "0 failed" in output


def test_check_fails_naming_the_rule_for_a_planted_bad_template(tmp_path: Path) -> None:
    """A template with a word to avoid and an over-long subject fails, naming both rules."""
    head, body = (SHIPPED / f"{TYPE}.md").read_text().split("\n+++\n", 1)
    text = f"{head}\n+++\nWe will facilitate this.\n\n{body}"
    text = text.replace('subject = "', 'subject = "' + "Very long words in a subject line " * 3, 1)
    (tmp_path / f"{TYPE}.md").write_text(text)
    code, output = run("templates", "check", env={"NOTIFIER_TEMPLATE_DIR": str(tmp_path)})
    assert code == 1
    assert "words-to-avoid" in output and "subject-length" in output


def test_council_override_changes_only_that_council(tmp_path: Path) -> None:
    """A wdc override of one template changes wdc's message and leaves sdc's alone."""
    override = tmp_path / "councils" / "wdc"
    override.mkdir(parents=True)
    head, body = (SHIPPED / f"{TYPE}.md").read_text().split("\n+++\n", 1)
    (override / f"{TYPE}.md").write_text(f"{head}\n+++\nWarwick bins are blue.\n\n{body}")
    catalogue = Catalogue.load(tmp_path)
    councils = load_councils()
    wdc = preview(catalogue, councils, TYPE, "wdc", Channel.EMAIL).content.decode()
    sdc = preview(catalogue, councils, TYPE, "sdc", Channel.EMAIL).content.decode()
    assert "Warwick bins are blue." in wdc
    assert "Warwick bins are blue." not in sdc
    assert catalogue.get("wdc", TYPE).version != catalogue.get("sdc", TYPE).version


@pytest.mark.parametrize(
    ("channel", "magic"),
    [("email", b"<!DOCTYPE html>"), ("letter", b"%PDF-"), ("sms", b"Stratford")],
)
def test_preview_writes_the_rendered_message(tmp_path: Path, channel: str, magic: bytes) -> None:
    """Preview writes HTML for email, a PDF for letters and the text for SMS."""
    out = tmp_path / "out"
    code, output = run(
        "templates", "preview", TYPE, "--council", "sdc", "--channel", channel, "--out", str(out)
    )
    assert code == 0, output
    assert out.read_bytes().startswith(magic) or magic in out.read_bytes()


def test_preview_of_unknown_type_is_a_clear_error(tmp_path: Path) -> None:
    """An unknown event type is reported, not a traceback."""
    code, output = run(
        "templates",
        "preview",
        "no.such.type",
        "--council",
        "sdc",
        "--channel",
        "sms",
        "--out",
        str(tmp_path / "x"),
    )
    assert code == 1 and "unknown-event-type" in output
