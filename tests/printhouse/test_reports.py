"""The print provider's reports: letters to posted and returned, outcomes, bad rows by number."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.lifecycle import Lifecycle
from notifier.model import Status
from notifier.printhouse.dispatch import Dispatcher
from notifier.printhouse.providers import FolderProvider
from notifier.printhouse.reports import (
    Problem,
    ReportIngester,
    ReportPoller,
    ReportUnreadable,
    parse_report,
)
from notifier.printhouse.spool import Spool
from notifier.store.notifications import NotificationStore
from tests.fakes.channels import RecordingSink
from tests.metrics import counted
from tests.printhouse.spooled import clean_letter_tables, spool_letters

HEADER = "letter_id,status,date,reason\n"
ID = "6f1c2d3e-0000-4000-8000-000000000001"


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncEngine:
    """The migrated store with empty letter tables."""
    await clean_letter_tables(engine)
    return engine


def test_report_rows_are_parsed_with_statuses_dates_and_reason_codes() -> None:
    """Good rows give the letter, status, date and a normalised reason code; blank lines and
    extra columns are ignored, columns may come in any order, a byte-order mark is fine."""
    text = (
        "\ufeffDate,Letter_ID,Status,Reason,Sheet\n"
        f"2026-12-01,{ID},POSTED,,3\n"
        "\n"
        f"2026-12-19,{ID},returned,Addressee Gone_Away,3\n"
    )
    rows, problems = parse_report(text)
    assert problems == []
    assert [(r.row, r.status, r.date, r.reason) for r in rows] == [
        (2, Status.POSTED, date(2026, 12, 1), None),
        (4, Status.RETURNED, date(2026, 12, 19), "addressee-gone-away"),
    ]


def test_bad_rows_are_reported_by_row_number_and_the_rest_still_read() -> None:
    """Each broken row is named by its row number (the header is row 1) and what is wrong,
    without echoing its values; good rows around it still count."""
    text = HEADER + (
        f"{ID},posted,2026-12-01,\n"
        f"{ID},delivered,2026-12-01,\n"
        f"{ID},posted,01/12/2026,\n"
        ",posted,2026-12-01,\n"
        "10 High Street,posted,2026-12-01,\n"
        f"{ID},returned,2026-12-01,{'x' * 51}\n"
        f"{ID},returned,2026-12-01,see: 10 High St\n"
        f"{ID}\n"
        f"{ID},returned,2026-12-02,refused\n"
    )
    rows, problems = parse_report(text)
    assert [r.row for r in rows] == [2, 10]
    assert problems == [
        Problem(3, "status must be posted or returned"),
        Problem(4, "date must be YYYY-MM-DD"),
        Problem(5, "letter_id is missing or not an id"),
        Problem(6, "letter_id is missing or not an id"),
        Problem(7, "reason must be a short code (letters, digits, hyphens)"),
        Problem(8, "reason must be a short code (letters, digits, hyphens)"),
        Problem(9, "status must be posted or returned"),
    ]
    assert "High" not in " ".join(str(p) for p in problems)


@pytest.mark.parametrize(
    "text", ["", "letter_id,status\nx,posted\n", "Filename,Date,Time\na.pdf,01/12/2026,10:00\n"]
)
def test_file_without_the_required_header_is_unreadable(text: str) -> None:
    """A file with no header, or without letter_id, status and date, is not a report."""
    with pytest.raises(ReportUnreadable):
        parse_report(text)


class Rig:
    """Letters handed over to a folder provider, and an ingester with a recording sink."""

    def __init__(self, engine: AsyncEngine, tmp: Path) -> None:
        self.engine = engine
        self.tmp = tmp
        self.spool = Spool(engine, tmp / "spool")
        self.notifications = NotificationStore(engine)
        self.sink = RecordingSink()
        self.ingester = ReportIngester(
            spool=self.spool, lifecycle=Lifecycle(self.notifications, self.sink)
        )

    async def handed_over(self, count: int) -> list[str]:
        ids = await spool_letters(self.engine, self.tmp / "spool", count)
        await Dispatcher(
            spool=self.spool,
            lifecycle=Lifecycle(self.notifications, RecordingSink()),
            provider=FolderProvider(self.tmp / "print"),
        ).dispatch()
        return ids

    def report(self, text: str, name: str = "report.csv") -> Path:
        path = self.tmp / name
        path.write_text(HEADER + text)
        return path

    def outcomes(self) -> list[tuple[str, str, str | None]]:
        events = [json.loads(body) for _, body in self.sink.published]
        return [(e["type"], e["data"]["notification_id"], e["data"]["reason"]) for e in events]

    async def status(self, notification_id: str) -> Status:
        row = await self.notifications.get(notification_id)
        assert row is not None
        return row.status


async def test_report_moves_letters_to_posted_and_returned_with_outcomes(
    db: AsyncEngine, tmp_path: Path
) -> None:
    """A report file moves each named letter to posted or returned and publishes its outcome;
    an unknown id is reported by row number and the other rows still apply."""
    rig = Rig(db, tmp_path)
    posted, returned = await rig.handed_over(2)
    before = {s: counted("letter", s) for s in (Status.POSTED, Status.RETURNED)}
    path = rig.report(
        f"{posted},posted,2026-12-01,\n"
        f"{ID},posted,2026-12-01,\n"
        f"{returned},returned,2026-12-19,addressee-gone-away\n"
    )
    result = await rig.ingester.ingest_report(path)
    assert result.changed == {"posted": 1, "returned": 1}
    assert result.problems == (Problem(3, "unknown letter id"),)
    assert result.summary() == (
        "3 row(s): 2 changed (1 posted, 1 returned), 0 unchanged, 1 problem(s)"
    )
    assert await rig.status(posted) is Status.POSTED
    assert await rig.status(returned) is Status.RETURNED
    assert rig.outcomes() == [
        ("notification.posted", posted, None),
        ("notification.returned", returned, "addressee-gone-away"),
    ]
    [*_, last] = await rig.notifications.history(posted)
    assert (last.status, last.source, last.applied) == (Status.POSTED, "print-report", True)
    assert {s: counted("letter", s) - n for s, n in before.items()} == {
        Status.POSTED: 1,
        Status.RETURNED: 1,
    }


async def test_repeated_report_changes_nothing_and_publishes_nothing(
    db: AsyncEngine, tmp_path: Path
) -> None:
    """Ingesting the same report twice: the second time every row is unchanged, no outcome."""
    rig = Rig(db, tmp_path)
    [letter] = await rig.handed_over(1)
    path = rig.report(f"{letter},posted,2026-12-01,\n")
    await rig.ingester.ingest_report(path)
    again = await rig.ingester.ingest_report(path)
    assert (again.changed, again.unchanged, len(rig.sink.published)) == ({}, 1, 1)


async def test_posted_letter_may_come_back_but_returned_is_final(
    db: AsyncEngine, tmp_path: Path
) -> None:
    """Posted then returned moves twice; a late 'posted' after 'returned' changes nothing but
    is kept in the history."""
    rig = Rig(db, tmp_path)
    [letter] = await rig.handed_over(1)
    await rig.ingester.ingest_report(rig.report(f"{letter},posted,2026-12-01,\n", "a.csv"))
    await rig.ingester.ingest_report(rig.report(f"{letter},returned,2026-12-20,\n", "b.csv"))
    late = await rig.ingester.ingest_report(rig.report(f"{letter},posted,2026-12-01,\n", "c.csv"))
    assert late.unchanged == 1 and await rig.status(letter) is Status.RETURNED
    assert [k for k, _, _ in rig.outcomes()] == ["notification.posted", "notification.returned"]
    history = await rig.notifications.history(letter)
    assert [(h.status, h.applied) for h in history[-3:]] == [
        (Status.POSTED, True),
        (Status.RETURNED, True),
        (Status.POSTED, False),
    ]


async def test_folder_reports_are_polled_once_and_junk_is_set_aside(
    db: AsyncEngine, tmp_path: Path
) -> None:
    """Each report in the report folder is read once and moved to processed/; a file that is
    not a report goes to rejected/; other files are left alone."""
    rig = Rig(db, tmp_path)
    [letter] = await rig.handed_over(1)
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "posted.csv").write_text(HEADER + f"{letter},posted,2026-12-01,\n")
    (reports / "junk.csv").write_bytes(b"\xff\xfe not a report")
    (reports / "readme.txt").write_text("not a csv")
    (reports / "upload.csv.part").write_text("still arriving")
    poller = ReportPoller(FolderProvider(tmp_path / "print", reports), rig.ingester)
    done = await poller.poll()
    assert [(name, result is not None) for name, result in done] == [
        ("junk.csv", False),
        ("posted.csv", True),
    ]
    assert await rig.status(letter) is Status.POSTED
    assert sorted(p.name for p in reports.iterdir() if p.is_file()) == [
        "readme.txt",
        "upload.csv.part",
    ]
    assert [p.name.endswith("-posted.csv") for p in (reports / "processed").iterdir()] == [True]
    assert [p.name.endswith("-junk.csv") for p in (reports / "rejected").iterdir()] == [True]
    assert await poller.poll() == []
