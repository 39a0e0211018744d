"""Bulk import of customers from a council system's CSV file, with a report of rejected rows.

The columns are in ``docs/preferences.md``. Each row creates or replaces one customer, as the
API's PUT does; a row that breaks any rule is left out whole and reported by row number, column
and rule, never by its values. Rows are written a few hundred per statement.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from notifier.preferences.model import Preferences, replaced
from notifier.preferences.store import BATCH, PreferenceStore
from notifier.preferences.validation import FLAGS, FieldError, check_customer, customer_id

ADDRESS_COLUMNS = (*(f"address_line_{n}" for n in range(1, 7)), "postcode")
LIST_COLUMNS = ("channel_order", "topic_opt_outs")
TEXT_COLUMNS = ("name", "email", "mobile", "language", "accessible_format", "quiet_hours")
COLUMNS = ("customer_id", *TEXT_COLUMNS, *sorted(FLAGS), *LIST_COLUMNS, *ADDRESS_COLUMNS)
# The resident's choices: an empty cell keeps what is stored rather than clearing it.
KEEP_WHEN_EMPTY = frozenset(
    {*LIST_COLUMNS, "sms_opted_out", "quiet_hours", "accessible_format", "language"}
)
_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0", ""})
_SEPARATORS = re.compile(r"[\s,;|]+")
REPORT_COLUMNS = ("row", "field", "rule")


class UnreadableFile(Exception):
    """The file as a whole cannot be imported; the message names the problem, not the data."""


@dataclasses.dataclass(frozen=True, slots=True)
class Rejection:
    row: int  # as a spreadsheet numbers it: the header is row 1
    field: str
    rule: str


@dataclasses.dataclass(slots=True)
class ImportResult:
    rows: int = 0
    created: int = 0
    replaced: int = 0
    rejections: list[Rejection] = dataclasses.field(default_factory=list)

    @property
    def rejected_rows(self) -> int:
        return len({r.row for r in self.rejections})


def _parse(record: dict[str | None, Any]) -> tuple[dict[str, Any], list[FieldError]]:
    """One CSV record as the plain values ``check_customer`` takes (only the columns given)."""
    raw: dict[str, Any] = {}
    errors: list[FieldError] = []
    if record.get(None):
        errors.append(FieldError("row", "too-many-cells", "More cells than columns"))
    cells = {k: (v or "").strip() for k, v in record.items() if k is not None}
    for column, cell in cells.items():
        if column in ("customer_id", *ADDRESS_COLUMNS) or (column in KEEP_WHEN_EMPTY and not cell):
            continue
        if column in FLAGS:
            if cell.lower() not in _TRUE | _FALSE:
                errors.append(FieldError(column, "invalid-boolean", "Use true or false"))
            raw[column] = cell.lower() in _TRUE
        elif column in LIST_COLUMNS:
            raw[column] = [part for part in _SEPARATORS.split(cell) if part]
        elif column == "quiet_hours":
            start, _, end = cell.partition("-")
            raw[column] = None if cell.lower() == "none" else (start.strip(), end.strip())
        else:
            raw[column] = cell or None
    if any(column in cells for column in ADDRESS_COLUMNS):
        raw["address"] = [cells.get(column, "") for column in ADDRESS_COLUMNS]
    return raw, errors


def _records(path: Path) -> Iterator[tuple[int, dict[str | None, Any]]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            # By position, not by name: a file without its header row would quote personal data.
            unknown = [str(n) for n, c in enumerate(header, 1) if c not in COLUMNS]
            if "customer_id" not in header:
                raise UnreadableFile("the header has no customer_id column")
            if unknown:
                raise UnreadableFile(
                    f"unknown column name in column {', '.join(unknown)} of the header"
                )
            if len(set(header)) != len(header):
                raise UnreadableFile("a column appears twice in the header")
            for index, record in enumerate(reader):
                yield index + 2, record
    except UnicodeDecodeError:
        raise UnreadableFile("the file is not UTF-8 text") from None
    except csv.Error as exc:
        raise UnreadableFile(f"not a CSV file ({type(exc).__name__})") from None


async def import_customers(
    path: Path,
    *,
    council: str,
    store: PreferenceStore,
    topics: Collection[str],
    actor: str,
    allow_fiction_range: bool = False,
) -> ImportResult:
    """Import every valid row of ``path`` for ``council``; UnreadableFile if it cannot be read."""
    result = ImportResult()
    seen: set[str] = set()
    pending: list[tuple[str, dict[str, Any]]] = []
    for row, record in _records(path):
        result.rows += 1
        values, errors = _checked(record, topics, allow_fiction_range)
        cid = (record.get("customer_id") or "").strip()
        if cid in seen:
            errors.insert(0, FieldError("customer_id", "duplicate-in-file", "Already in this file"))
        if errors:
            result.rejections.extend(Rejection(row, e.field, e.rule) for e in errors)
            continue
        seen.add(cid)
        pending.append((cid, values))
        if len(pending) >= BATCH:
            await _write(pending, council, store, actor, result)
    await _write(pending, council, store, actor, result)
    return result


def _checked(
    record: dict[str | None, Any], topics: Collection[str], allow_fiction_range: bool
) -> tuple[dict[str, Any], list[FieldError]]:
    raw, errors = _parse(record)
    try:
        customer_id((record.get("customer_id") or "").strip())
    except FieldError as exc:
        errors.insert(0, exc)
    values, problems = check_customer(raw, topics=topics, allow_fiction_range=allow_fiction_range)
    return values, errors + problems


async def _write(
    pending: list[tuple[str, dict[str, Any]]],
    council: str,
    store: PreferenceStore,
    actor: str,
    result: ImportResult,
) -> None:
    if not pending:
        return
    existing = await store.get_many(council, [cid for cid, _ in pending])
    records: list[Preferences] = [
        replaced(council, cid, values, existing.get(cid)) for cid, values in pending
    ]
    created, kept = await store.put_many(records, actor=actor)
    result.created += created
    result.replaced += kept
    pending.clear()


def write_report(result: ImportResult, path: Path) -> None:
    """The rejected rows as CSV: row number, column and rule; no values."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(REPORT_COLUMNS)
        for rejection in result.rejections:
            writer.writerow((rejection.row, rejection.field, rejection.rule))
