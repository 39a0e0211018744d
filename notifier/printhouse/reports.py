"""The print provider's reports: which letters were posted, and which came back.

A report is a CSV file, UTF-8 (a byte-order mark is allowed), with a header row naming at least
``letter_id``, ``status`` and ``date`` (``reason`` optional; other columns ignored; any order):

    letter_id,status,date,reason
    6f1c...,posted,2026-12-01,
    0a9e...,returned,2026-12-19,addressee-gone-away

- ``letter_id``: the notification id (the PDF's name in the batch, without ``.pdf``);
- ``status``: ``posted`` or ``returned`` (any case);
- ``date``: when it happened, ``YYYY-MM-DD``; checked, not stored;
- ``reason``: optional short code, letters, digits and hyphens (spaces become hyphens), at most
  50 characters, kept as the notification's reason; anything longer or odder is a bad row,
  since free text may carry personal data.

Each good row moves its letter (``record``, source ``print-report``), and the outcome is
published only when the status changed; a repeated or late report changes nothing. A bad row or
an unknown letter id is reported by its row number (the header is row 1) and the rest of the
file is still read.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import re
from datetime import date
from pathlib import Path

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.lifecycle import Lifecycle
from notifier.model import Status
from notifier.outcomes import OutcomeSink
from notifier.printhouse.providers import PrintProvider, build_provider
from notifier.printhouse.spool import Spool
from notifier.settings import LetterSettings
from notifier.store.notifications import NotificationStore

log = structlog.get_logger("notifier.printhouse.reports")

SOURCE = "print-report"
REQUIRED_COLUMNS = ("letter_id", "status", "date")
STATUSES = {"posted": Status.POSTED, "returned": Status.RETURNED}
PROCESSED_FOLDER = "processed"
REJECTED_FOLDER = "rejected"
_REASON = re.compile(r"[a-z0-9][a-z0-9-]{0,49}")
_LETTER_ID = re.compile(r"[A-Za-z0-9-]{1,36}")


class ReportUnreadable(ValueError):
    """The file is not a report at all (not UTF-8 text, or no usable header)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ReportRow:
    row: int
    letter_id: str
    status: Status
    date: date
    reason: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    row: int
    problem: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.problem}"


def parse_report(text: str) -> tuple[list[ReportRow], list[Problem]]:
    """The good rows and the problems of a report; ReportUnreadable without a usable header."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [column.strip().lower() for column in next(reader, [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ReportUnreadable(f"the header lacks {', '.join(missing)}")
    where = {name: header.index(name) for name in (*REQUIRED_COLUMNS, "reason") if name in header}
    rows: list[ReportRow] = []
    problems: list[Problem] = []
    for number, fields in enumerate(reader, start=2):
        if not any(field.strip() for field in fields):
            continue
        try:
            rows.append(_row(number, fields, where))
        except ValueError as exc:
            problems.append(Problem(number, str(exc)))
    return rows, problems


def _row(number: int, fields: list[str], where: dict[str, int]) -> ReportRow:
    def field(name: str) -> str:
        index = where.get(name)
        return fields[index].strip() if index is not None and index < len(fields) else ""

    letter_id = field("letter_id")
    if not _LETTER_ID.fullmatch(letter_id):
        raise ValueError("letter_id is missing or not an id")
    status = STATUSES.get(field("status").lower())
    if status is None:
        raise ValueError("status must be posted or returned")
    try:
        when = date.fromisoformat(field("date"))
    except ValueError:
        raise ValueError("date must be YYYY-MM-DD") from None
    reason = re.sub(r"[\s_]+", "-", field("reason").lower()) or None
    if reason is not None and not _REASON.fullmatch(reason):
        raise ValueError("reason must be a short code (letters, digits, hyphens)")
    return ReportRow(number, letter_id, status, when, reason)


@dataclasses.dataclass(frozen=True, slots=True)
class IngestResult:
    """What one report did."""

    rows: int = 0
    changed: dict[str, int] = dataclasses.field(default_factory=dict)  # by status
    unchanged: int = 0  # repeated or late reports: recorded, nothing changed
    problems: tuple[Problem, ...] = ()

    def summary(self) -> str:
        changed = sum(self.changed.values())
        detail = ", ".join(f"{n} {status}" for status, n in sorted(self.changed.items()))
        return (
            f"{self.rows} row(s): {changed} changed"
            + (f" ({detail})" if detail else "")
            + f", {self.unchanged} unchanged, {len(self.problems)} problem(s)"
        )


class ReportIngester:
    """Applies print reports to the letters they name."""

    def __init__(
        self,
        *,
        spool: Spool,
        lifecycle: Lifecycle,
    ) -> None:
        self.spool = spool
        self.lifecycle = lifecycle

    async def ingest_report(self, path: Path) -> IngestResult:
        """Read one report file; ReportUnreadable if it is not one."""
        return await self.ingest_bytes(await asyncio.to_thread(path.read_bytes))

    async def ingest_bytes(self, data: bytes) -> IngestResult:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ReportUnreadable("not UTF-8 text") from None
        rows, problems = parse_report(text)
        changed: dict[str, int] = {}
        unchanged = 0
        for row in rows:
            if not await self.spool.contains(row.letter_id):
                problems.append(Problem(row.row, "unknown letter id"))
                continue
            moved = await self.lifecycle.move_id(
                row.letter_id, row.status, source=SOURCE, reason=row.reason
            )
            if moved is None:
                unchanged += 1
                continue
            changed[str(row.status)] = changed.get(str(row.status), 0) + 1
        problems.sort(key=lambda p: p.row)
        result = IngestResult(len(rows) + _bad_rows(problems), changed, unchanged, tuple(problems))
        log.info(
            "letters.report_ingested",
            rows=result.rows,
            changed=sum(changed.values()),
            unchanged=unchanged,
            problems=len(problems),
        )
        return result


def _bad_rows(problems: list[Problem]) -> int:
    """Rows that failed to parse (an unknown id is a parsed row, already counted)."""
    return sum(1 for p in problems if p.problem != "unknown letter id")


class ReportPoller:
    """Reads each new report in the provider's report folder once, then moves it aside
    (``processed/``, or ``rejected/`` when it is not a report at all)."""

    def __init__(self, provider: PrintProvider, ingester: ReportIngester) -> None:
        self.provider = provider
        self.ingester = ingester

    async def poll(self) -> list[tuple[str, IngestResult | None]]:
        """Ingest every waiting report; each name with its result (None: rejected)."""
        done: list[tuple[str, IngestResult | None]] = []
        for name in await self.provider.report_names():
            data = await self.provider.read_report(name)
            try:
                result: IngestResult | None = await self.ingester.ingest_bytes(data)
            except ReportUnreadable as exc:
                log.error("letters.report_rejected", file=name, error=str(exc))
                result = None
            for problem in result.problems if result else ():
                log.warning(
                    "letters.report_problem", file=name, row=problem.row, problem=problem.problem
                )
            # A crash before this move re-reads the file: harmless, reports are idempotent.
            await self.provider.archive_report(
                name, PROCESSED_FOLDER if result else REJECTED_FOLDER
            )
            done.append((name, result))
        return done


async def poll_reports_forever(poller: ReportPoller, every: float) -> None:
    """Poll the report folder every ``every`` seconds; a failed poll is logged and retried."""
    while True:
        try:
            await poller.poll()
        except Exception as exc:
            log.error("letters.report_poll_failed", error=getattr(exc, "code", type(exc).__name__))
        await asyncio.sleep(every)


def build_ingester(
    letters: LetterSettings, engine: AsyncEngine, outcomes: OutcomeSink
) -> ReportIngester:
    return ReportIngester(
        spool=Spool(engine, letters.spool_dir),
        lifecycle=Lifecycle(NotificationStore(engine), outcomes),
    )


def build_poller(
    letters: LetterSettings, engine: AsyncEngine, outcomes: OutcomeSink
) -> ReportPoller:
    """The poller of NOTIFIER_PRINT_REPORT_DIR at the configured provider."""
    return ReportPoller(build_provider(letters), build_ingester(letters, engine, outcomes))
