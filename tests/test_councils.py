"""The councils file: each council's table, and its optional evidence_years checked at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.councils import load_councils
from notifier.errors import ConfigurationError

TABLE = """
[sdc]
name = "Stratford-on-Avon District Council"
website = "https://www.stratford.gov.uk"
phone = "01789 267575"
email_from = "notifications@stratford.gov.uk"
reply_to = "customer.services@stratford.gov.uk"
sms_sender = "StratfordDC"
address = ["Elizabeth House", "Church Street", "Stratford-upon-Avon", "CV37 6HX"]
"""


def councils_file(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "councils.toml"
    path.write_text(TABLE + extra)
    return path


def test_the_shipped_councils_keep_evidence_for_the_service_default() -> None:
    """Neither shipped council sets evidence_years: NOTIFIER_EVIDENCE_YEARS applies to both."""
    assert {code: c.evidence_years for code, c in load_councils().items()} == {
        "sdc": None,
        "wdc": None,
    }


@pytest.mark.parametrize("years", [1, 10, 100])
def test_a_council_may_set_its_own_evidence_years(tmp_path: Path, years: int) -> None:
    councils = load_councils(councils_file(tmp_path, f"evidence_years = {years}\n"))
    assert councils["sdc"].evidence_years == years


@pytest.mark.parametrize("value", ["0", "101", "-6", "6.5", '"ten"', "true"])
def test_evidence_years_outside_1_to_100_is_refused_naming_the_council(
    tmp_path: Path, value: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        load_councils(councils_file(tmp_path, f"evidence_years = {value}\n"))
    message = str(refused.value)
    assert "NOTIFIER_COUNCILS_FILE: council 'sdc': evidence_years" in message
    assert "from 1 to 100" in message
