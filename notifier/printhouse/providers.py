"""Print providers: where a batch is handed over, and where the provider's reports come from.

    deliver(zip, name, size, sha256) -> uploaded?   False when the provider already has that
                                                    exact file (same size and SHA-256)
    report_names() / read_report(name) / archive_report(name, folder)

Both upload under ``<name>.part`` and rename into place only when the whole file is there, so
the provider never sees a partial batch under its final name.

- ``FolderProvider``: a drop folder (``NOTIFIER_PRINT_DIR``), reports in a local folder.
- ``SftpProvider``: an SFTP server (asyncssh), key authentication, the host key checked against
  ``NOTIFIER_SFTP_KNOWN_HOSTS`` (never skipped). asyncssh's errors are mapped here, once:

      host key not in known_hosts / different  -> TechnicalFailure("sftp-host-key-rejected",
                                                                   retryable=False)
      authentication refused                   -> TechnicalFailure("sftp-auth-failed",
                                                                   retryable=False)
      key file not a usable private key        -> TechnicalFailure("sftp-key-unreadable",
                                                                   retryable=False)
      connection refused, lost or timed out    -> TechnicalFailure("sftp-connection-failed")
      any other SFTP error                     -> TechnicalFailure("sftp-error")
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import posixpath
import shutil
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import asyncssh

from notifier.errors import ConfigurationError, TechnicalFailure
from notifier.settings import LetterProvider, LetterSettings

CHUNK = 256 * 1024
PART_SUFFIX = ".part"


class PrintProvider(Protocol):
    """A print provider's drop box and report folder."""

    name: str

    async def deliver(self, local: Path, name: str, size: int, sha256: str) -> bool:
        """Make sure the provider holds ``local`` as ``name``; True if it was uploaded now."""
        ...

    async def report_names(self) -> list[str]:
        """Report files waiting to be read (``*.csv``), oldest name first."""
        ...

    async def read_report(self, name: str) -> bytes: ...

    async def archive_report(self, name: str, folder: str) -> None:
        """Move a read report into ``folder`` beside it, so it is read once."""
        ...

    async def aclose(self) -> None: ...


def build_provider(letters: LetterSettings) -> PrintProvider:
    """The provider NOTIFIER_LETTER_PROVIDER names (folder or sftp)."""
    if letters.provider is LetterProvider.FOLDER:
        assert letters.print_dir is not None  # checked at start-up
        report_dir = Path(letters.report_dir) if letters.report_dir else None
        return FolderProvider(letters.print_dir, report_dir)
    if letters.provider is LetterProvider.SFTP:
        return SftpProvider.from_settings(letters)
    where = "in the outbox" if letters.provider is LetterProvider.OUTBOX else "to GOV.UK Notify"
    raise ConfigurationError(
        f"NOTIFIER_LETTER_PROVIDER={letters.provider} sends letters {where}: "
        "there is no print provider"
    )


def is_report_name(name: str) -> bool:
    return name.lower().endswith(".csv") and not name.startswith(".")


def archived_name(name: str, now: datetime) -> str:
    """A report's name once archived: prefixed with when, so names never collide."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{name}"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class FolderProvider:
    """A drop folder the print provider collects from (a mounted share, say)."""

    name = "folder"

    def __init__(
        self,
        directory: Path,
        report_dir: Path | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.directory = directory
        self.report_dir = report_dir
        self.clock = clock

    async def deliver(self, local: Path, name: str, size: int, sha256: str) -> bool:
        try:
            return await asyncio.to_thread(self._deliver, local, name, size, sha256)
        except OSError as exc:
            raise TechnicalFailure("print-dir-write-failed", type(exc).__name__) from None

    def _deliver(self, local: Path, name: str, size: int, sha256: str) -> bool:
        final = self.directory / name
        if final.is_file() and final.stat().st_size == size and file_sha256(final) == sha256:
            return False
        self.directory.mkdir(parents=True, exist_ok=True)
        part = self.directory / f"{name}{PART_SUFFIX}"
        with local.open("rb") as source, part.open("wb") as target:
            shutil.copyfileobj(source, target, CHUNK)
            target.flush()
            os.fsync(target.fileno())
        os.replace(part, final)
        _fsync_directory(self.directory)
        if final.stat().st_size != size:
            raise TechnicalFailure("print-dir-size-mismatch", name)
        return True

    async def report_names(self) -> list[str]:
        if self.report_dir is None:
            return []
        return await asyncio.to_thread(_local_reports, self.report_dir)

    async def read_report(self, name: str) -> bytes:
        assert self.report_dir is not None
        return await asyncio.to_thread((self.report_dir / name).read_bytes)

    async def archive_report(self, name: str, folder: str) -> None:
        assert self.report_dir is not None
        target = self.report_dir / folder / archived_name(name, self.clock())
        await asyncio.to_thread(_move, self.report_dir / name, target)

    async def aclose(self) -> None:
        return None


def _local_reports(directory: Path) -> list[str]:
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.iterdir() if is_report_name(p.name) and p.is_file())


def _move(source: Path, target: Path) -> None:
    target.parent.mkdir(exist_ok=True)
    os.replace(source, target)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SftpProvider:
    """An SFTP server, by key, with its host key pinned in a known_hosts file."""

    name = "sftp"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        key_file: Path,
        known_hosts: Path,
        directory: str = ".",
        report_dir: str | None = None,
        timeout: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.key_file = key_file
        self.known_hosts = known_hosts
        self.directory = directory
        self.report_dir = report_dir
        self.timeout = timeout
        self.clock = clock

    @classmethod
    def from_settings(cls, letters: LetterSettings) -> SftpProvider:
        assert letters.sftp_host and letters.sftp_username  # checked at start-up
        assert letters.sftp_key_file and letters.sftp_known_hosts
        return cls(
            host=letters.sftp_host,
            port=letters.sftp_port,
            username=letters.sftp_username,
            key_file=letters.sftp_key_file,
            known_hosts=letters.sftp_known_hosts,
            directory=letters.sftp_dir,
            report_dir=letters.report_dir,
            timeout=letters.sftp_timeout,
        )

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[asyncssh.SFTPClient]:
        """One connection and SFTP session, with every asyncssh error mapped."""
        try:
            async with (
                asyncssh.connect(
                    self.host,
                    self.port,
                    username=self.username,
                    client_keys=[str(self.key_file)],
                    known_hosts=str(self.known_hosts),
                    config=None,
                    agent_path=None,
                    password=None,
                    preferred_auth="publickey",
                    connect_timeout=self.timeout,
                    login_timeout=self.timeout,
                    keepalive_interval=self.timeout,
                ) as connection,
                connection.start_sftp_client() as sftp,
            ):
                yield sftp
        except TechnicalFailure:
            raise
        except asyncssh.HostKeyNotVerifiable:
            raise TechnicalFailure("sftp-host-key-rejected", retryable=False) from None
        except asyncssh.PermissionDenied:
            raise TechnicalFailure("sftp-auth-failed", retryable=False) from None
        except asyncssh.KeyImportError:
            raise TechnicalFailure("sftp-key-unreadable", retryable=False) from None
        except (asyncssh.SFTPConnectionLost, asyncssh.SFTPNoConnection) as exc:
            raise TechnicalFailure("sftp-connection-failed", type(exc).__name__) from None
        except asyncssh.SFTPError as exc:
            raise TechnicalFailure("sftp-error", type(exc).__name__) from None
        except (asyncssh.Error, OSError, TimeoutError) as exc:
            raise TechnicalFailure("sftp-connection-failed", type(exc).__name__) from None

    def _remote(self, name: str) -> str:
        return posixpath.join(self.directory, name)

    async def deliver(self, local: Path, name: str, size: int, sha256: str) -> bool:
        final, part = self._remote(name), self._remote(name + PART_SUFFIX)
        async with self._session() as sftp:
            if await _remote_matches(sftp, final, size, sha256):
                return False
            await sftp.put(str(local), part)
            if await sftp.exists(final):
                await sftp.remove(final)  # a wrong copy: replaced, never kept beside
            await sftp.rename(part, final)
            if (await sftp.stat(final)).size != size:
                raise TechnicalFailure("sftp-size-mismatch", name)
        return True

    async def report_names(self) -> list[str]:
        if self.report_dir is None:
            return []
        async with self._session() as sftp:
            if not await sftp.isdir(self.report_dir):
                return []
            entries = await sftp.readdir(self.report_dir)
        return sorted(
            str(e.filename)
            for e in entries
            if is_report_name(str(e.filename)) and e.attrs.type == asyncssh.FILEXFER_TYPE_REGULAR
        )

    async def read_report(self, name: str) -> bytes:
        assert self.report_dir is not None
        async with (
            self._session() as sftp,
            sftp.open(posixpath.join(self.report_dir, name), "rb") as f,
        ):
            data: bytes = await f.read()
        return data

    async def archive_report(self, name: str, folder: str) -> None:
        assert self.report_dir is not None
        target = posixpath.join(self.report_dir, folder)
        async with self._session() as sftp:
            if not await sftp.isdir(target):
                await sftp.mkdir(target)
            await sftp.rename(
                posixpath.join(self.report_dir, name),
                posixpath.join(target, archived_name(name, self.clock())),
            )

    async def aclose(self) -> None:
        return None


async def _remote_matches(sftp: asyncssh.SFTPClient, path: str, size: int, sha256: str) -> bool:
    """Whether ``path`` exists on the server with this size and SHA-256 (read back to check)."""
    try:
        attrs = await sftp.stat(path)
    except asyncssh.SFTPNoSuchFile:
        return False
    if attrs.size != size:
        return False
    digest = hashlib.sha256()
    async with sftp.open(path, "rb") as remote:
        while chunk := await remote.read(CHUNK):
            assert isinstance(chunk, bytes)
            digest.update(chunk)
    return digest.hexdigest() == sha256
