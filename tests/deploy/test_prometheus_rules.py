"""The alert rules: promtool checks them and runs their unit tests; every alert fires and clears
in those tests and has a runbook section in docs/operations.md."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).parents[2] / "deploy"
RULES = DEPLOY / "prometheus-rules.yml"
RULE_TESTS = DEPLOY / "prometheus-rules.test.yml"
OPERATIONS = Path(__file__).parents[2] / "docs" / "operations.md"


def alerts() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"] if "alert" in rule]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", *args], cwd=DEPLOY, capture_output=True, text=True, timeout=60, check=False
    )


def anchor(heading: str) -> str:
    """The fragment a Markdown renderer gives a heading: lowercase, punctuation dropped,
    spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_promtool_checks_the_rules() -> None:
    """``promtool check rules`` accepts the file (syntax, PromQL, templates)."""
    result = promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    """``promtool test rules`` passes every case in the test file."""
    result = promtool("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_fires_and_clears_in_the_unit_tests() -> None:
    """Each alert is expected firing at one evaluation and silent at a later one."""
    fired: dict[str, list[int]] = {}
    cleared: dict[str, list[int]] = {}
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in case["alert_rule_test"]:
            seconds = duration(check["eval_time"])
            target = fired if check["exp_alerts"] else cleared
            target.setdefault(check["alertname"], []).append(seconds)
    for rule in alerts():
        name = rule["alert"]
        assert name in fired, f"{name} never fires"
        assert any(c > min(fired[name]) for c in cleared.get(name, [])), f"{name} never clears"


def test_every_alert_has_a_runbook_section() -> None:
    """Each alert's runbook_url points at a heading of docs/operations.md, and the section
    says what it means, how to confirm it, what to do and how to replay."""
    text = OPERATIONS.read_text()
    headings = {anchor(h): h for h in re.findall(r"^#{2,4} (.+)$", text, flags=re.MULTILINE)}
    for rule in alerts():
        url = rule["annotations"]["runbook_url"]
        page, _, fragment = url.partition("#")
        assert page == "docs/operations.md", url
        assert fragment in headings, f"{rule['alert']}: no heading for #{fragment}"
        section = text.split(f"### {headings[fragment]}\n", 1)[1].split("\n### ", 1)[0]
        for part in ("**Means**", "**Confirm**", "**Act**", "**Replay**"):
            assert part in section, f"{rule['alert']}: runbook lacks {part}"


def duration(text: str) -> int:
    """Seconds in a Prometheus duration such as ``1h30m``."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smhd])", text))
