"""The CSV bulk import: 10,000 customers in well under a minute on SQLite and PostgreSQL, and a
report of rejected rows by row number, column and rule, never by value."""

from __future__ import annotations

import csv
import os
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.preferences.importer import (
    COLUMNS,
    UnreadableFile,
    import_customers,
    write_report,
)
from notifier.preferences.store import PreferenceStore
from tests.web.conftest import CATALOGUE

TOPICS = frozenset(t.topic for t in CATALOGUE)
HEADER = [
    "customer_id",
    "name",
    "email",
    "mobile",
    "address_line_1",
    "address_line_2",
    "postcode",
    "channel_order",
    "topic_opt_outs",
    "quiet_hours",
    "accessible_format",
    "email_verified",
    "do_not_contact",
]
# Spreadsheet row number -> (cells to change, the column and rule the report must name)
BAD = {
    101: ({"email": "not-an-email"}, ("email", "invalid-email")),
    2002: ({"mobile": "01789 267575"}, ("mobile", "not-a-uk-mobile")),
    3003: ({"topic_opt_outs": "parking"}, ("topic_opt_outs", "unknown-topic")),
    4004: ({"email_verified": "maybe"}, ("email_verified", "invalid-boolean")),
    5005: ({"customer_id": "SDC-0000002"}, ("customer_id", "duplicate-in-file")),
    6006: ({"quiet_hours": "late-early"}, ("quiet_hours", "invalid-time")),
    7007: ({"customer_id": ""}, ("customer_id", "invalid-customer-id")),
    8008: ({"postcode": "", "address_line_2": ""}, ("address", "not-enough-address-lines")),
}
SECRET_VALUES = ("not-an-email", "01789 267575", "parking", "maybe", "late-early")


def write_customers(path: Path, count: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, HEADER)
        writer.writeheader()
        for n in range(count):
            row = {
                "customer_id": f"SDC-{n:07d}",
                "name": f"Resident {n}",
                "email": f"resident{n}@example.org",
                "mobile": f"07400 {n:06d}",
                "address_line_1": f"{n} High Street",
                "address_line_2": "Stratford-upon-Avon",
                "postcode": "CV37 6AA",
                "channel_order": "sms email letter",
                "topic_opt_outs": "waste" if n % 3 == 0 else "",
                "quiet_hours": "21:00-08:00",
                "accessible_format": "large-print" if n % 50 == 0 else "standard",
                "email_verified": "yes",
                "do_not_contact": "",
            }
            row.update(BAD.get(n + 2, ({}, None))[0])
            writer.writerow(row)


async def test_ten_thousand_rows_import_in_under_a_minute_with_bad_rows_reported(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """10,000 rows (8 of them bad) import in under 60 s; the report lists exactly the bad
    rows by number, column and rule, and none of their values."""
    path = tmp_path / "customers.csv"
    write_customers(path, 10_000)
    store = PreferenceStore(engine)
    started = time.monotonic()
    result = await import_customers(
        path, council="sdc", store=store, topics=TOPICS, actor="import:test"
    )
    elapsed = time.monotonic() - started
    assert elapsed < 60, f"{elapsed:.1f}s"
    assert (result.rows, result.created, result.replaced) == (10_000, 9_992, 0)
    assert {(r.row, r.field, r.rule) for r in result.rejections} == {
        (row, *rule) for row, (_, rule) in BAD.items()
    }
    report = tmp_path / "report.csv"
    write_report(result, report)
    text = report.read_text()
    assert text.splitlines()[0] == "row,field,rule"
    assert not any(value in text for value in SECRET_VALUES)
    stored = await store.get("sdc", "SDC-0000003")
    assert stored is not None and stored.mobile == "+447400000003"
    assert stored.topic_opt_outs == {"waste"} and stored.address == (
        "3 High Street",
        "Stratford-upon-Avon",
        "CV37 6AA",
    )


async def test_reimport_replaces_and_an_empty_choice_cell_keeps_what_is_stored(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Importing again replaces contact details, and a blank opt-out cell keeps the
    resident's stored opt-outs rather than clearing them."""
    path = tmp_path / "customers.csv"
    write_customers(path, 4)
    store = PreferenceStore(engine)
    await import_customers(path, council="sdc", store=store, topics=TOPICS, actor="import:1")
    path.write_text("customer_id,email,topic_opt_outs\nSDC-0000000,new@example.org,\n")
    result = await import_customers(
        path, council="sdc", store=store, topics=TOPICS, actor="import:2"
    )
    assert (result.created, result.replaced) == (0, 1)
    stored = await store.get("sdc", "SDC-0000000")
    assert stored is not None and stored.email == "new@example.org"
    assert stored.topic_opt_outs == {"waste"} and stored.mobile is None


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("name,email\nA,a@example.org\n", "no customer_id column"),
        ("customer_id,emial\nSDC-1,a@example.org\n", "unknown column name in column 2 "),
        (b"customer_id\n\xff\xfe\n", "not UTF-8"),
    ],
)
async def test_a_file_that_cannot_be_imported_is_refused_whole(
    engine: AsyncEngine, tmp_path: Path, content: str | bytes, problem: str
) -> None:
    """A missing id column, an unknown column or a non-UTF-8 file stops the import, named."""
    path = tmp_path / "customers.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(UnreadableFile, match=problem):
        await import_customers(
            path, council="sdc", store=PreferenceStore(engine), topics=TOPICS, actor="import"
        )


def test_documented_columns_are_the_accepted_ones() -> None:
    """The header the importer accepts is the one docs/preferences.md documents."""
    docs = (Path(__file__).parents[2] / "docs" / "preferences.md").read_text()
    for column in COLUMNS:
        assert f"`{column}`" in docs, column


def test_command_imports_and_writes_the_report(
    tmp_path: Path, notifier_bin: str, sqlite_url: str
) -> None:
    """``notifier customers import`` prints its counts and writes FILE.rejected.csv."""
    path = tmp_path / "customers.csv"
    write_customers(path, 120)
    env = {**os.environ, "NOTIFIER_DATABASE_URL": sqlite_url, "NOTIFIER_LOG_FORMAT": "json"}
    done = subprocess.run(
        [notifier_bin, "customers", "import", str(path), "--council", "sdc"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "120 rows: created 119, replaced 0, rejected 1" in done.stdout
    report = (tmp_path / "customers.csv.rejected.csv").read_text().splitlines()
    assert report == ["row,field,rule", "101,email,invalid-email"]
    unknown = subprocess.run(
        [notifier_bin, "customers", "import", str(path), "--council", "xyz"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unknown.returncode == 2 and "not a configured council" in unknown.stderr
