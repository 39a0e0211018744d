"""The print hand-over to a drop folder: one batch, idempotent, resumable; the daily cut-off."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.errors import ConfigurationError, TechnicalFailure
from notifier.lifecycle import Lifecycle
from notifier.model import Status
from notifier.printhouse.dispatch import (
    MANIFEST_COLUMNS,
    DispatchBusy,
    Dispatcher,
    DispatchResult,
    _lock,
    build_zip,
    dispatch_daily,
    next_cutoff,
)
from notifier.printhouse.providers import FolderProvider
from notifier.printhouse.spool import BatchState, Spool
from notifier.settings import load_settings
from notifier.store.database import create_engine
from notifier.store.notifications import NotificationStore
from tests.events import make_event
from tests.fakes.channels import RecordingSink
from tests.metrics import counted
from tests.printhouse.spooled import (
    assert_consistent,
    clean_letter_tables,
    read_batch,
    spool_letters,
)
from tests.service import ServiceProcess, bind_outcomes, drain, publish_raw

LONDON = ZoneInfo("Europe/London")
FIVE_OCLOCK = time(17, 30)


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncEngine:
    """The migrated store with empty letter tables."""
    await clean_letter_tables(engine)
    return engine


class Rig:
    """A dispatcher to a drop folder, with a recording outcome sink."""

    def __init__(self, engine: AsyncEngine, tmp: Path) -> None:
        self.spool_dir = tmp / "spool"
        self.print_dir = tmp / "print"
        self.spool = Spool(engine, self.spool_dir)
        self.notifications = NotificationStore(engine)
        self.sink = RecordingSink()
        self.provider = FolderProvider(self.print_dir)
        self.engine = engine

    def dispatcher(self, provider: FolderProvider | None = None) -> Dispatcher:
        return Dispatcher(
            spool=self.spool,
            lifecycle=Lifecycle(self.notifications, self.sink),
            provider=provider or self.provider,
        )

    async def spool_letters(self, count: int) -> list[str]:
        return await spool_letters(self.engine, self.spool_dir, count)

    def batches(self) -> list[Path]:
        return sorted(self.print_dir.glob("*"))

    def outcomes(self) -> list[tuple[str, str]]:
        return [(k, json.loads(b)["data"]["notification_id"]) for k, b in self.sink.published]

    async def statuses(self, ids: list[str]) -> set[tuple[Status, str | None]]:
        rows = [await self.notifications.get(i) for i in ids]
        return {(r.status, r.provider_ref) for r in rows if r is not None}


async def test_dispatch_hands_every_spooled_letter_to_the_folder_in_one_batch(
    db: AsyncEngine, tmp_path: Path
) -> None:
    """Three spooled letters go in one zip whose manifest hashes match its PDFs; each letter
    moves to sending with the batch id, its outcome and its count in notifier_notifications_total,
    and the local copies are removed."""
    rig = Rig(db, tmp_path)
    ids = await rig.spool_letters(3)
    before = counted("letter", Status.SENDING)
    result = await rig.dispatcher().dispatch()
    assert counted("letter", Status.SENDING) == before + 3
    [batch] = await rig.spool.batches()
    assert result.summary() == f"dispatched 3 letter(s) in 1 batch(es): {batch.name}"
    assert [p.name for p in rig.batches()] == [batch.name]
    assert_consistent(rig.print_dir / batch.name, ids)
    assert await rig.statuses(ids) == {(Status.SENDING, batch.id)}
    assert sorted(rig.outcomes()) == sorted(("notification.sending", i) for i in ids)
    history = await rig.notifications.history(ids[0])
    assert (history[-1].status, history[-1].source) == (Status.SENDING, "print-dispatch")
    assert batch.state is BatchState.HANDED_OVER
    assert list((rig.spool_dir / "letters").glob("*")) == []
    assert list((rig.spool_dir / "batches").glob("*")) == []


async def test_manifest_has_ids_council_postage_pages_and_hash_only(
    db: AsyncEngine, tmp_path: Path
) -> None:
    """The manifest's columns are the documented ones, and no address or name is in it."""
    rig = Rig(db, tmp_path)
    await rig.spool_letters(2)
    await rig.dispatcher().dispatch()
    [zipped] = rig.batches()
    rows, _ = read_batch(zipped)
    assert tuple(rows[0]) == MANIFEST_COLUMNS
    assert {(r["council"], r["postage"], r["pages"], r["sheets"]) for r in rows} == {
        ("sdc", "second", "1", "1"),
        ("wdc", "second", "1", "1"),
    }
    manifest = json.dumps(rows).upper()
    for secret in ("ALEX", "SMITH", "HIGH STREET", "CV37"):
        assert secret not in manifest


async def test_second_dispatch_sends_nothing_new(db: AsyncEngine, tmp_path: Path) -> None:
    """Dispatching again with nothing spooled since makes no batch and publishes nothing."""
    rig = Rig(db, tmp_path)
    await rig.spool_letters(2)
    await rig.dispatcher().dispatch()
    published = len(rig.sink.published)
    again = await rig.dispatcher().dispatch()
    assert again == DispatchResult() and again.summary() == "nothing to dispatch"
    assert len(rig.batches()) == 1 and len(rig.sink.published) == published


async def test_batch_claimed_before_a_crash_is_finished_and_new_letters_go_separately(
    db: AsyncEngine, tmp_path: Path
) -> None:
    """A batch recorded by a run that died before building it is finished by the next run,
    and letters spooled since go in a new batch: no letter in two batches, none dropped."""
    rig = Rig(db, tmp_path)
    first = await rig.spool_letters(2)
    claimed = await rig.spool.claim(datetime.now(UTC))  # then the process died
    assert claimed is not None
    later = await rig.spool_letters(1)
    result = await rig.dispatcher().dispatch()
    assert next((b.name, b.letters, b.resumed) for b in result.batches) == (claimed.name, 2, True)
    assert [b.letters for b in result.batches] == [2, 1]
    old, new = (rig.print_dir / b.name for b in result.batches)
    assert_consistent(old, first)
    assert_consistent(new, later)
    assert len(rig.outcomes()) == 3


class CrashAfterUpload(FolderProvider):
    """Uploads, then dies before the dispatcher can record it."""

    async def deliver(self, local: Path, name: str, size: int, sha256: str) -> bool:
        await super().deliver(local, name, size, sha256)
        raise TechnicalFailure("process-killed")


async def test_crash_after_upload_is_not_uploaded_again(db: AsyncEngine, tmp_path: Path) -> None:
    """A run that died after its upload leaves the file at the provider; the next run sees it
    there with the right size and hash, does not upload it again, and hands the letters over."""
    rig = Rig(db, tmp_path)
    ids = await rig.spool_letters(2)
    with pytest.raises(TechnicalFailure):
        await rig.dispatcher(CrashAfterUpload(rig.print_dir)).dispatch()
    [zipped] = rig.batches()
    before = (zipped.stat().st_mtime_ns, zipped.read_bytes())
    assert await rig.statuses(ids) == {(Status.CREATED, None)}
    result = await rig.dispatcher().dispatch()
    [batch] = result.batches
    assert (batch.uploaded, batch.resumed, batch.letters) == (False, True, 2)
    assert [p.name for p in rig.batches()] == [zipped.name]
    assert (zipped.stat().st_mtime_ns, zipped.read_bytes()) == before
    assert {s for s, _ in await rig.statuses(ids)} == {Status.SENDING}


class FailingSink(RecordingSink):
    """Publishes ``allow`` outcomes, then the broker goes away."""

    def __init__(self, allow: int) -> None:
        super().__init__()
        self.allow = allow

    async def publish(self, routing_key: str, body: bytes, message_id: str) -> None:
        if len(self.published) >= self.allow:
            raise ConnectionError("broker gone")
        await super().publish(routing_key, body, message_id)


async def test_hand_over_cut_short_republishes_and_finishes(
    db: AsyncEngine, tmp_path: Path
) -> None:
    """When outcomes cannot be published part-way through a hand-over, the next run finishes it
    without uploading again, and every letter's sending outcome is published."""
    rig = Rig(db, tmp_path)
    ids = await rig.spool_letters(3)
    broken = Dispatcher(
        spool=rig.spool,
        lifecycle=Lifecycle(rig.notifications, FailingSink(allow=1)),
        provider=rig.provider,
    )
    with pytest.raises(ConnectionError):
        await broken.dispatch()
    [batch] = await rig.spool.unfinished()
    assert batch.state is BatchState.UPLOADED
    result = await rig.dispatcher().dispatch()
    assert [(b.uploaded, b.resumed) for b in result.batches] == [(False, True)]
    assert sorted(i for _, i in rig.outcomes()) == ids
    assert await rig.statuses(ids) == {(Status.SENDING, batch.id)}


async def test_letters_no_longer_created_are_not_batched(db: AsyncEngine, tmp_path: Path) -> None:
    """A spooled letter whose notification has moved on (failed, say) is left out, and its
    PDF is deleted."""
    rig = Rig(db, tmp_path)
    kept, dropped = await rig.spool_letters(2)
    await rig.notifications.record(dropped, Status.TECHNICAL_FAILURE, source="test")
    result = await rig.dispatcher().dispatch()
    [zipped] = rig.batches()
    assert result.letters == 1
    assert_consistent(zipped, [kept])
    assert not rig.spool.pdf_path(dropped).exists()  # it carried an address: not kept


async def test_missing_spooled_pdf_fails_that_letter_only(db: AsyncEngine, tmp_path: Path) -> None:
    """A waiting letter whose PDF is gone becomes a technical failure with its outcome; the
    other letters are handed over."""
    rig = Rig(db, tmp_path)
    lost, kept = await rig.spool_letters(2)
    rig.spool.pdf_path(lost).unlink()
    result = await rig.dispatcher().dispatch()
    assert (result.letters, result.unprintable) == (1, 1)
    row = await rig.notifications.get(lost)
    assert row is not None and (row.status, row.reason) == (
        Status.TECHNICAL_FAILURE,
        "spool-file-missing",
    )
    assert ("notification.technical-failure", lost) in rig.outcomes()
    assert_consistent(rig.batches()[0], [kept])


async def test_a_second_dispatch_at_the_same_time_does_nothing(
    db: AsyncEngine, tmp_path: Path
) -> None:
    """While one dispatch holds the spool's lock, another is refused and claims nothing."""
    rig = Rig(db, tmp_path)
    await rig.spool_letters(1)
    with _lock(rig.spool_dir / "dispatch.lock"), pytest.raises(DispatchBusy):
        await rig.dispatcher().dispatch()
    assert await rig.spool.batches() == []


async def test_zip_is_the_same_bytes_when_rebuilt(db: AsyncEngine, tmp_path: Path) -> None:
    """Building a batch's zip twice from the same letters gives identical bytes and hash."""
    rig = Rig(db, tmp_path)
    await rig.spool_letters(2)
    letters = await rig.spool.waiting()
    at = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)
    first = build_zip(tmp_path / "a.zip", letters, rig.spool.pdf_path, at)
    second = build_zip(tmp_path / "b.zip", letters, rig.spool.pdf_path, at)
    assert first == second
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def london(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


@pytest.mark.parametrize(
    ("now", "expected_utc"),
    [
        (london(2026, 12, 1, 9, 0), datetime(2026, 12, 1, 17, 30, tzinfo=UTC)),
        (london(2026, 12, 1, 17, 30), datetime(2026, 12, 2, 17, 30, tzinfo=UTC)),
        (london(2026, 12, 1, 18, 0), datetime(2026, 12, 2, 17, 30, tzinfo=UTC)),
        (london(2026, 7, 1, 9, 0), datetime(2026, 7, 1, 16, 30, tzinfo=UTC)),
        (london(2026, 3, 28, 18, 0), datetime(2026, 3, 29, 16, 30, tzinfo=UTC)),
        (london(2026, 3, 29, 0, 30), datetime(2026, 3, 29, 16, 30, tzinfo=UTC)),
        (london(2026, 10, 24, 18, 0), datetime(2026, 10, 25, 17, 30, tzinfo=UTC)),
        (london(2026, 10, 25, 1, 30), datetime(2026, 10, 25, 17, 30, tzinfo=UTC)),
        (london(2026, 12, 31, 23, 0), datetime(2027, 1, 1, 17, 30, tzinfo=UTC)),
    ],
    ids=[
        "winter-morning",
        "at-the-cutoff-means-tomorrow",
        "winter-evening",
        "summer-is-bst",
        "eve-of-spring-change",
        "spring-change-day",
        "eve-of-autumn-change",
        "autumn-change-day",
        "new-year",
    ],
)
def test_next_cutoff_is_1730_london_time_across_dst(now: datetime, expected_utc: datetime) -> None:
    """The next cut-off is 17:30 by the London clock: GMT in winter, BST in summer, right on
    the days the clocks change."""
    assert next_cutoff(now, FIVE_OCLOCK) == expected_utc
    assert next_cutoff(now, FIVE_OCLOCK).astimezone(LONDON).time() == FIVE_OCLOCK


def test_next_cutoff_in_the_spring_gap_and_autumn_overlap() -> None:
    """A cut-off the clocks skip runs an hour later by the clock; one they repeat runs once."""
    spring = next_cutoff(london(2026, 3, 29, 0, 0), time(1, 30))
    assert spring == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 02:30 BST
    autumn = next_cutoff(london(2026, 10, 25, 0, 0), time(1, 30))
    assert autumn == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # the first 01:30 (BST)
    after_first = next_cutoff(autumn, time(1, 30))
    assert after_first == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)  # not the second 01:30


def test_next_cutoff_refuses_a_naive_time() -> None:
    """A time without a zone is ambiguous, so it is refused."""
    with pytest.raises(ValueError, match="timezone-aware"):
        next_cutoff(datetime(2026, 12, 1, 9, 0), FIVE_OCLOCK)


class FakeDispatcher:
    """Records when it was asked to dispatch; fails the first time."""

    def __init__(self, clock: FakeClock, done: asyncio.Event) -> None:
        self.clock = clock
        self.calls: list[datetime] = []
        self.done = done

    async def dispatch(self) -> DispatchResult:
        self.calls.append(self.clock.now)
        if len(self.calls) == 1:
            raise TechnicalFailure("sftp-connection-failed")
        if len(self.calls) == 3:
            self.done.set()
        return DispatchResult()


class FakeClock:
    """A clock that moves a minute each time it is read."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


async def test_daily_dispatch_runs_at_the_cutoff_and_retries_a_failure() -> None:
    """The daily job dispatches at 17:30 London, retries a failed run five minutes later, then
    waits for the next day's cut-off."""
    clock = FakeClock(london(2026, 3, 28, 17, 0).astimezone(UTC))
    done = asyncio.Event()
    fake = FakeDispatcher(clock, done)
    job = asyncio.create_task(
        dispatch_daily(fake, FIVE_OCLOCK, clock=clock, max_nap=0)  # type: ignore[arg-type]
    )
    try:
        await asyncio.wait_for(done.wait(), timeout=10)
    finally:
        job.cancel()
    local = [c.astimezone(LONDON) for c in fake.calls]
    assert [(t.day, t.hour) for t in local] == [(28, 17), (28, 17), (29, 17)]
    assert (local[0].minute, local[1].minute, local[2].minute) == (30, 36, 30)
    assert local[2].utcoffset() == timedelta(hours=1)  # the clocks went forward overnight


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"letter_provider": "folder"}, "NOTIFIER_PRINT_DIR"),
        ({"letter_provider": "sftp"}, "NOTIFIER_SFTP_HOST"),
        (
            {"letter_provider": "sftp", "sftp_host": "127.0.0.1", "sftp_username": "u"},
            "NOTIFIER_SFTP_KEY_FILE",
        ),
        (
            {
                "letter_provider": "sftp",
                "sftp_host": "127.0.0.1",
                "sftp_username": "u",
                "sftp_key_file": "/nonexistent/key",
                "sftp_known_hosts": "/nonexistent/known_hosts",
            },
            "NOTIFIER_SFTP_KEY_FILE",
        ),
        ({"letter_cutoff": "25:00"}, "NOTIFIER_LETTER_CUTOFF"),
        ({"print_report_poll_interval": "soon"}, "NOTIFIER_PRINT_REPORT_POLL_INTERVAL"),
    ],
    ids=["folder-dir", "sftp-host", "sftp-key", "sftp-key-missing", "cutoff", "poll"],
)
def test_letter_settings_are_checked_at_start_up_naming_the_variable(
    overrides: dict[str, str], variable: str
) -> None:
    """A print provider without what it needs, or a bad cut-off, fails naming the variable."""
    with pytest.raises(ConfigurationError, match=variable):
        load_settings(**overrides)


@pytest.fixture
def letter_service(tmp_path: Path, amqp_url: str) -> Iterator[ServiceProcess]:
    """``notifier run`` with the folder print provider; its cut-off twelve hours away."""
    far = (datetime.now(LONDON) + timedelta(hours=12)).strftime("%H:%M")
    proc = ServiceProcess(
        tmp_path,
        amqp_url,
        NOTIFIER_LETTER_PROVIDER="folder",
        NOTIFIER_PRINT_DIR=str(tmp_path / "print"),
        NOTIFIER_SPOOL_DIR=str(tmp_path / "spool"),
        NOTIFIER_LETTER_CUTOFF=far,
    )
    yield proc
    proc.stop()


async def test_service_spools_a_letter_and_the_dispatch_command_hands_it_over(
    letter_service: ServiceProcess, amqp_url: str, tmp_path: Path
) -> None:
    """End to end: the real service turns an event for a customer with only a postal address
    into a spooled letter that stays created; `notifier letters dispatch` (a separate process)
    puts it in a batch in the print folder and moves it to sending, and `notifier letters
    ingest-report` moves it to posted; each step's outcome is published."""
    await bind_outcomes(amqp_url, "test.outcomes")
    letter_service.start()
    await letter_service.wait_ready()
    recipient = {
        "customer_id": "SDC-LETTER-1",
        "name": "Alex Smith",
        "address": ["Flat 2", "10 High Street", "Stratford-upon-Avon", "CV37 6AA"],
    }
    event = make_event(recipient=recipient)
    await publish_raw(amqp_url, [event])
    await letter_service.wait_processed(1)
    engine = create_engine(letter_service.database_url)
    try:
        store = NotificationStore(engine)
        [row] = await store.for_event(event["source"], event["id"])
        assert (row.channel, row.status) == ("letter", Status.CREATED)
        assert (tmp_path / "spool" / "letters" / f"{row.id}.pdf").is_file()

        out, err = await notifier_command(letter_service, "letters", "dispatch")
        [zipped] = (tmp_path / "print").glob("*.zip")
        assert out == f"dispatched 1 letter(s) in 1 batch(es): {zipped.name}"
        assert f"batch {zipped.name}: 1 letter(s) handed over" in err
        assert_consistent(zipped, [row.id])
        sending = await store.get(row.id)
        assert sending is not None and sending.status is Status.SENDING

        report = tmp_path / "report.csv"
        report.write_text(f"letter_id,status,date,reason\n{row.id},posted,2026-12-01,\n")
        out, _ = await notifier_command(letter_service, "letters", "ingest-report", str(report))
        assert out == "report.csv: 1 row(s): 1 changed (1 posted), 0 unchanged, 0 problem(s)"
        posted = await store.get(row.id)
        assert posted is not None and posted.status is Status.POSTED
    finally:
        await engine.dispose()
    outcomes = await drain(amqp_url, "test.outcomes", expect=2)
    assert [o.routing_key for o in outcomes] == ["notification.sending", "notification.posted"]
    assert {json.loads(o.body)["data"]["notification_id"] for o in outcomes} == {row.id}
    assert "High Street" not in letter_service.logs() + err


async def notifier_command(service: ServiceProcess, *args: str) -> tuple[str, str]:
    """Run ``notifier ARGS`` with the service's environment; its stdout and stderr."""
    command = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "notifier", *args,
        env=service.env, cwd=service.tmp,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(command.communicate(), timeout=60)
    assert command.returncode == 0, err.decode()
    return out.decode().strip(), err.decode()
