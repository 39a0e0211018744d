"""The print hand-over over a real SFTP server on 127.0.0.1 (asyncssh's, in the test process)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncssh
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.errors import TechnicalFailure
from notifier.lifecycle import Lifecycle
from notifier.model import Status
from notifier.printhouse.dispatch import Dispatcher, build_zip
from notifier.printhouse.providers import SftpProvider
from notifier.printhouse.reports import ReportIngester, ReportPoller
from notifier.printhouse.spool import BatchState, Spool
from notifier.store.notifications import NotificationStore
from tests.fakes.channels import RecordingSink
from tests.fakes.sftp import SftpServer
from tests.printhouse.spooled import assert_consistent, clean_letter_tables, spool_letters


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncEngine:
    """The migrated store with empty letter tables."""
    await clean_letter_tables(engine)
    return engine


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[SftpServer]:
    """A fresh SFTP server with its own keys."""
    fake = await SftpServer(tmp_path).start()
    yield fake
    await fake.close()


class Rig:
    def __init__(self, engine: AsyncEngine, tmp: Path, server: SftpServer) -> None:
        self.engine = engine
        self.server = server
        self.spool_dir = tmp / "spool"
        self.spool = Spool(engine, self.spool_dir)
        self.notifications = NotificationStore(engine)
        self.sink = RecordingSink()
        self.inbox = server.root / "inbox"

    def dispatcher(self, provider: SftpProvider | None = None) -> Dispatcher:
        return Dispatcher(
            spool=self.spool,
            lifecycle=Lifecycle(self.notifications, self.sink),
            provider=provider or self.server.provider("inbox"),
        )

    async def spool_letters(self, count: int) -> list[str]:
        return await spool_letters(self.engine, self.spool_dir, count)

    def files(self) -> list[str]:
        return sorted(p.name for p in self.inbox.iterdir())

    async def statuses(self, ids: list[str]) -> set[tuple[Status, str | None]]:
        rows = [await self.notifications.get(i) for i in ids]
        return {(r.status, r.provider_ref) for r in rows if r is not None}


async def test_batch_lands_complete_over_sftp_and_a_second_dispatch_sends_nothing(
    db: AsyncEngine, tmp_path: Path, server: SftpServer
) -> None:
    """One zip arrives under its final name (uploaded as .part, renamed), its manifest matches
    its PDFs, the letters move to sending; dispatching again uploads nothing."""
    rig = Rig(db, tmp_path, server)
    ids = await rig.spool_letters(3)
    result = await rig.dispatcher().dispatch()
    [batch] = await rig.spool.batches()
    assert rig.files() == [batch.name] and result.batches[0].uploaded
    assert server.renamed == [f"inbox/{batch.name}"]
    assert_consistent(rig.inbox / batch.name, ids)
    assert await rig.statuses(ids) == {(Status.SENDING, batch.id)}
    assert len(rig.sink.published) == 3
    written = server.bytes_written
    again = await rig.dispatcher().dispatch()
    assert again.batches == () and again.summary() == "nothing to dispatch"
    assert (server.bytes_written, len(server.renamed), rig.files()) == (written, 1, [batch.name])
    assert len(rig.sink.published) == 3


async def test_connection_dropped_mid_upload_then_retried_without_duplicates(
    db: AsyncEngine, tmp_path: Path, server: SftpServer
) -> None:
    """The server drops the connection part-way through the upload: no final file appears and
    no letter moves. The retry finishes the same batch: one file, every letter in it once, the
    manifest's hashes matching the PDFs, and no second batch."""
    rig = Rig(db, tmp_path, server)
    ids = await rig.spool_letters(4)
    server.drop_after = 20_000
    with pytest.raises(TechnicalFailure) as caught:
        await rig.dispatcher().dispatch()
    assert caught.value.code == "sftp-connection-failed" and caught.value.retryable
    assert server.drops == 1
    [batch] = await rig.spool.batches()
    assert batch.state is BatchState.BUILT
    assert rig.files() == [f"{batch.name}.part"] and server.renamed == []
    assert await rig.statuses(ids) == {(Status.CREATED, None)}
    assert rig.sink.published == []

    result = await rig.dispatcher().dispatch()
    assert [(b.name, b.letters, b.uploaded, b.resumed) for b in result.batches] == [
        (batch.name, 4, True, True)
    ]
    assert rig.files() == [batch.name]
    assert server.renamed == [f"inbox/{batch.name}"]
    assert_consistent(rig.inbox / batch.name, ids)
    assert [b.name for b in await rig.spool.batches()] == [batch.name]
    assert await rig.statuses(ids) == {(Status.SENDING, batch.id)}
    published = sorted(
        json.loads(body)["data"]["notification_id"] for _, body in rig.sink.published
    )
    assert published == ids


async def test_batch_already_at_the_provider_is_not_uploaded_again(
    db: AsyncEngine, tmp_path: Path, server: SftpServer
) -> None:
    """After a crash between the rename and recording it, the next run finds the file at the
    server with the right size and hash and hands the letters over without uploading."""
    rig = Rig(db, tmp_path, server)
    ids = await rig.spool_letters(2)
    claimed = await rig.spool.claim(datetime.now(UTC))
    assert claimed is not None
    letters = await rig.spool.letters_in(claimed.id)
    path = rig.spool.zip_path(claimed)
    size, sha256 = build_zip(path, letters, rig.spool.pdf_path, claimed.created_at)
    await rig.spool.advance(claimed, BatchState.BUILT, size=size, sha256=sha256)
    assert await server.provider("inbox").deliver(path, claimed.name, size, sha256)
    written = server.bytes_written

    result = await rig.dispatcher().dispatch()
    assert [(b.uploaded, b.resumed) for b in result.batches] == [(False, True)]
    assert server.bytes_written == written and rig.files() == [claimed.name]
    assert {s for s, _ in await rig.statuses(ids)} == {Status.SENDING}


async def test_wrong_host_key_is_refused_and_nothing_is_sent(
    db: AsyncEngine, tmp_path: Path, server: SftpServer
) -> None:
    """A server whose host key is not the pinned one is refused before authenticating; no
    byte is uploaded, no letter moves. With the right pin the same batch then goes."""
    rig = Rig(db, tmp_path, server)
    ids = await rig.spool_letters(2)
    server.pin(asyncssh.generate_private_key("ssh-ed25519"))
    with pytest.raises(TechnicalFailure) as caught:
        await rig.dispatcher().dispatch()
    assert caught.value.code == "sftp-host-key-rejected" and not caught.value.retryable
    assert server.bytes_written == 0 and rig.files() == []
    assert await rig.statuses(ids) == {(Status.CREATED, None)}

    server.pin(server.host_key)
    result = await rig.dispatcher().dispatch()
    assert [(b.letters, b.resumed) for b in result.batches] == [(2, True)]


async def test_unknown_client_key_is_an_authentication_failure(
    tmp_path: Path, server: SftpServer
) -> None:
    """A key the server does not accept fails as sftp-auth-failed, not retried."""
    stranger = tmp_path / "stranger"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(stranger))
    provider = server.provider("inbox", report_dir="reports")
    provider.key_file = stranger
    with pytest.raises(TechnicalFailure) as caught:
        await provider.report_names()
    assert caught.value.code == "sftp-auth-failed" and not caught.value.retryable


async def test_unusable_key_file_is_a_configuration_problem_not_retried(
    tmp_path: Path, server: SftpServer
) -> None:
    """A key file that is not a private key fails as sftp-key-unreadable, not a vendor error."""
    garbage = tmp_path / "not-a-key"
    garbage.write_text("this is not a key\n")
    provider = server.provider("inbox", report_dir="reports")
    provider.key_file = garbage
    with pytest.raises(TechnicalFailure) as caught:
        await provider.report_names()
    assert caught.value.code == "sftp-key-unreadable" and not caught.value.retryable


async def test_reports_are_polled_from_the_sftp_report_folder_once(
    db: AsyncEngine, tmp_path: Path, server: SftpServer
) -> None:
    """A report dropped in the server's report folder moves its letters to posted and returned,
    with outcomes, and is moved to processed/ so the next poll reads nothing."""
    rig = Rig(db, tmp_path, server)
    posted, returned = await rig.spool_letters(2)
    await rig.dispatcher().dispatch()
    reports = server.root / "reports"
    reports.mkdir()
    (reports / "despatch-20261201.csv").write_text(
        "letter_id,status,date,reason\n"
        f"{posted},posted,2026-12-01,\n"
        f"{returned},returned,2026-12-19,addressee gone away\n"
    )
    poller = ReportPoller(
        server.provider("inbox", report_dir="reports"),
        ReportIngester(spool=rig.spool, lifecycle=Lifecycle(rig.notifications, rig.sink)),
    )
    [(name, result)] = await poller.poll()
    assert name == "despatch-20261201.csv" and result is not None
    assert result.changed == {"posted": 1, "returned": 1}
    assert {p.name for p in reports.iterdir()} == {"processed"}
    [archived] = (reports / "processed").iterdir()
    assert archived.name.endswith("-despatch-20261201.csv")
    assert await poller.poll() == []
    row = await rig.notifications.get(returned)
    assert row is not None and (row.status, row.reason) == (Status.RETURNED, "addressee-gone-away")
    keys = [key for key, _ in rig.sink.published[-2:]]
    assert keys == ["notification.posted", "notification.returned"]
