"""The print hand-over: every spooled letter, in one batch, to the print provider.

A batch is a zip of the letters' PDFs (``<notification id>.pdf``) and ``manifest.csv``, one row
per letter: ``letter_id,file,council,postage,pages,sheets,sha256`` (no names, no addresses).

``Dispatcher.dispatch`` first finishes any batch an earlier run left part-way, then claims every
waiting letter into a new batch and hands it over. Each step is recorded before the next, so it
can stop anywhere and be run again without printing a letter twice or dropping one:

1. claim: the batch and its letters are recorded (``Spool.claim``) before anything is built;
2. build: the zip is built deterministically (fixed order and timestamps, stored entries), so
   the same letters always make the same bytes under the same name; its size and hash recorded;
3. upload: under ``<name>.part`` then renamed; skipped when the provider already has the file
   with that size and SHA-256 (a run that stopped after uploading);
4. hand-over: each letter moves to ``sending`` (source ``print-dispatch``, provider reference =
   the batch id) and its outcome is published; the local zip and PDFs are then removed.

Dispatches are serialised by a lock file in the spool directory; ``next_cutoff`` is the pure
schedule of the daily cut-off (17:30 Europe/London by default, docs/operations.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import fcntl
import hashlib
import io
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.errors import NotifierError
from notifier.lifecycle import Lifecycle
from notifier.model import Status
from notifier.outcomes import OutcomeSink
from notifier.printhouse.providers import PrintProvider, build_provider, file_sha256
from notifier.printhouse.spool import LONDON, Batch, BatchState, Spool, SpooledLetter
from notifier.settings import LetterSettings
from notifier.store.notifications import NotificationStore

log = structlog.get_logger("notifier.printhouse.dispatch")

SOURCE = "print-dispatch"
MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ("letter_id", "file", "council", "postage", "pages", "sheets", "sha256")
# After a failed daily dispatch, try again this often until the next cut-off.
RETRY_AFTER = timedelta(minutes=5)


class DispatchBusy(NotifierError):
    """Another dispatch holds the spool's lock; this one did nothing."""


class SpoolFileMissing(NotifierError):
    """A claimed letter's PDF is gone from the spool: its batch cannot be built."""


@dataclasses.dataclass(frozen=True, slots=True)
class BatchResult:
    name: str
    letters: int
    uploaded: bool  # False when the provider already had the file
    resumed: bool  # a batch an earlier run left part-way


@dataclasses.dataclass(frozen=True, slots=True)
class DispatchResult:
    batches: tuple[BatchResult, ...] = ()
    unprintable: int = 0  # letters whose spooled PDF was missing or changed
    stuck: tuple[str, ...] = ()  # batches that cannot be built: a claimed PDF is gone

    @property
    def letters(self) -> int:
        return sum(b.letters for b in self.batches)

    def summary(self) -> str:
        if not self.batches:
            text = "nothing to dispatch"
        else:
            names = ", ".join(b.name for b in self.batches)
            text = f"dispatched {self.letters} letter(s) in {len(self.batches)} batch(es): {names}"
        if self.unprintable:
            text += f"; {self.unprintable} letter(s) failed: spooled PDF missing"
        if self.stuck:
            text += f"; stuck, see docs/operations.md: {', '.join(self.stuck)}"
        return text


def manifest_csv(letters: Sequence[SpooledLetter]) -> bytes:
    """The batch manifest: one row per letter, ids, council, postage, pages and hash only."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(MANIFEST_COLUMNS)
    for letter in letters:
        writer.writerow(
            (
                letter.notification_id,
                letter.file_name,
                letter.council,
                letter.postage,
                letter.pages,
                letter.sheets,
                letter.sha256,
            )
        )
    return out.getvalue().encode("utf-8")


def build_zip(
    target: Path, letters: Sequence[SpooledLetter], pdf_path: Callable[[str], Path], at: datetime
) -> tuple[int, str]:
    """Write the batch zip to ``target`` atomically; its size and SHA-256. The same letters and
    ``at`` always give the same bytes."""
    local = at.astimezone(LONDON)
    stamp = (local.year, local.month, local.day, local.hour, local.minute, local.second)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as archive:
                archive.writestr(_entry(MANIFEST, stamp), manifest_csv(letters))
                for letter in letters:
                    data = pdf_path(letter.notification_id).read_bytes()
                    if hashlib.sha256(data).hexdigest() != letter.sha256:
                        raise SpoolFileMissing(f"letter {letter.notification_id}: PDF changed")
                    archive.writestr(_entry(letter.file_name, stamp), data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except FileNotFoundError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise SpoolFileMissing(f"a PDF of batch {target.name} is missing from the spool") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target.stat().st_size, file_sha256(target)


def _entry(name: str, stamp: tuple[int, int, int, int, int, int]) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.create_system = 3  # Unix, wherever it is built
    info.external_attr = 0o644 << 16
    return info


class Dispatcher:
    """Hands spooled letters to the print provider, in batches, idempotently."""

    def __init__(
        self,
        *,
        spool: Spool,
        lifecycle: Lifecycle,
        provider: PrintProvider,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        progress: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self.spool = spool
        self.lifecycle = lifecycle
        self.provider = provider
        self.clock = clock
        self.progress = progress

    async def dispatch(self) -> DispatchResult:
        """Finish unfinished batches, then hand over everything waiting; DispatchBusy when
        another dispatch is running."""
        results: list[BatchResult] = []
        stuck: list[str] = []
        with _lock(self.spool.directory / "dispatch.lock"):
            for unfinished in await self.spool.unfinished():
                try:
                    results.append(await self._complete(unfinished, resumed=True))
                except SpoolFileMissing as exc:
                    # One broken batch must not hold back every later letter.
                    log.error("letters.batch_stuck", batch=unfinished.name, error=str(exc))
                    stuck.append(unfinished.name)
            unprintable = await self._fail_missing()
            await asyncio.to_thread(self.spool.remove_pdfs, await self.spool.abandoned())
            batch = await self.spool.claim(self.clock())
            if batch is not None:
                self.progress(f"batch {batch.name}: {batch.letters} letter(s) claimed")
                results.append(await self._complete(batch, resumed=False))
        result = DispatchResult(tuple(results), unprintable, tuple(stuck))
        log.info(
            "letters.dispatched",
            batches=len(result.batches),
            letters=result.letters,
            unprintable=unprintable,
            stuck=len(stuck),
        )
        return result

    async def _complete(self, batch: Batch, *, resumed: bool) -> BatchResult:
        if resumed:
            self.progress(f"batch {batch.name}: resuming from {batch.state}")
        letters = await self.spool.letters_in(batch.id)
        if not letters:  # its notifications were deleted: there is nothing left to print
            await self.spool.advance(batch, BatchState.HANDED_OVER, handed_over_at=self.clock())
            return BatchResult(batch.name, 0, False, resumed)
        was_uploaded = batch.state is BatchState.UPLOADED
        uploaded = False
        if batch.state in (BatchState.CLAIMED, BatchState.BUILT):
            batch = await self._build(batch, letters)
            assert batch.size is not None and batch.sha256 is not None
            uploaded = await self.provider.deliver(
                self.spool.zip_path(batch), batch.name, batch.size, batch.sha256
            )
            self.progress(
                f"batch {batch.name}: "
                + ("uploaded" if uploaded else "already at the provider, not uploaded again")
            )
            batch = await self.spool.advance(batch, BatchState.UPLOADED, uploaded_at=self.clock())
        await self._hand_over(batch, letters, republish=was_uploaded)
        await self.spool.advance(batch, BatchState.HANDED_OVER, handed_over_at=self.clock())
        await asyncio.to_thread(self.spool.remove_files, batch, letters)
        self.progress(f"batch {batch.name}: {len(letters)} letter(s) handed over")
        return BatchResult(batch.name, len(letters), uploaded, resumed)

    async def _build(self, batch: Batch, letters: list[SpooledLetter]) -> Batch:
        """The batch's zip in the spool, built now or checked against what was recorded."""
        path = self.spool.zip_path(batch)
        built = batch.state is BatchState.BUILT and path.is_file()
        if built and await asyncio.to_thread(file_sha256, path) == batch.sha256:
            return batch
        size, sha256 = await asyncio.to_thread(
            build_zip, path, letters, self.spool.pdf_path, batch.created_at
        )
        if batch.state is BatchState.BUILT and sha256 != batch.sha256:
            raise SpoolFileMissing(f"batch {batch.name}: rebuilt zip differs from the recorded")
        return await self.spool.advance(batch, BatchState.BUILT, size=size, sha256=sha256)

    async def _hand_over(
        self, batch: Batch, letters: list[SpooledLetter], *, republish: bool
    ) -> None:
        """Each letter to ``sending``, with its outcome; on a resumed hand-over, letters already
        moved get their outcome again (the run that moved them may have died before publishing)."""
        for letter in letters:
            moved = await self.lifecycle.move_id(
                letter.notification_id,
                Status.SENDING,
                source=SOURCE,
                provider_ref=batch.id,
                pages=letter.pages,
            )
            if moved is not None or not republish:
                continue
            row = await self.lifecycle.notifications.get(letter.notification_id)
            if row is not None and row.status is Status.SENDING and row.provider_ref == batch.id:
                await self.lifecycle.announce(row)

    async def _fail_missing(self) -> int:
        """Letters waiting whose PDF is gone or changed: technical failure, never batched."""
        failed = 0
        for letter in await self.spool.waiting():
            path = self.spool.pdf_path(letter.notification_id)
            if await asyncio.to_thread(_intact, path, letter.sha256):
                continue
            await self.lifecycle.move_id(
                letter.notification_id,
                Status.TECHNICAL_FAILURE,
                source=SOURCE,
                reason="spool-file-missing",
            )
            log.error("letters.spool_file_missing", notification_id=letter.notification_id)
            failed += 1
        return failed


def _intact(path: Path, sha256: str) -> bool:
    return path.is_file() and file_sha256(path) == sha256


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (held by this process until released), or DispatchBusy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DispatchBusy("another dispatch is running; nothing done") from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def next_cutoff(after: datetime, at: time, zone: ZoneInfo = LONDON) -> datetime:
    """The first moment strictly after ``after`` when the clock in ``zone`` reads ``at``, in UTC.

    DST-correct: 17:30 is 17:30 GMT in winter and 17:30 BST (16:30 UTC) in summer. A time the
    clocks skip that day (the spring gap) runs an hour later, by the clock; a time they repeat
    (the autumn overlap) runs once, the first time."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    after = after.astimezone(UTC)
    day = after.astimezone(zone).date()
    for offset in range(3):
        candidate = _wall_clock(day + timedelta(days=offset), at, zone)
        if candidate > after:
            return candidate
    raise AssertionError("unreachable: a day has a cut-off")


def _wall_clock(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


async def dispatch_daily(
    dispatcher: Dispatcher,
    at: time,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    max_nap: float = 600.0,
) -> None:
    """Dispatch at each day's cut-off, forever; a failed dispatch is tried again every five
    minutes until it works or the next cut-off comes round."""
    due = next_cutoff(clock(), at)
    log.info("letters.cutoff_scheduled", due=due.isoformat())
    while True:
        # Short naps, so a clock that jumps (suspend, NTP) is noticed.
        while True:
            remaining = (due - clock()).total_seconds()
            if remaining <= 0:
                break
            await asyncio.sleep(min(remaining, max_nap))
        try:
            result = await dispatcher.dispatch()
        except DispatchBusy:
            log.info("letters.dispatch_skipped", reason="busy")
            due = next_cutoff(clock(), at)
        except Exception as exc:
            code = getattr(exc, "code", None) or type(exc).__name__
            log.error("letters.dispatch_failed", error=code)
            due = min(clock() + RETRY_AFTER, next_cutoff(clock(), at))
        else:
            log.info("letters.cutoff_done", letters=result.letters, batches=len(result.batches))
            due = next_cutoff(clock(), at)


def build_dispatcher(
    letters: LetterSettings,
    engine: AsyncEngine,
    outcomes: OutcomeSink,
    *,
    progress: Callable[[str], None] = lambda _line: None,
) -> Dispatcher:
    """The dispatcher for the configured print provider (folder or sftp)."""
    return Dispatcher(
        spool=Spool(engine, letters.spool_dir),
        lifecycle=Lifecycle(NotificationStore(engine), outcomes),
        provider=build_provider(letters),
        progress=progress,
    )
