"""A real SFTP server on 127.0.0.1 (asyncssh's, in the test process) for the print hand-over.

Fresh host and client keys per server, a known_hosts file pinning the host key, and an SFTP root
in a temporary folder. ``drop_after`` drops the connection once that many bytes of an upload
have been written (once), to test an upload cut off part-way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncssh

from notifier.printhouse.providers import SftpProvider

USERNAME = "printer"


class _SftpSession(asyncssh.SFTPServer):
    """The SFTP subsystem, rooted in the fake's folder, counting what is written."""

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], fake: SftpServer) -> None:
        super().__init__(chan, chroot=str(fake.root).encode())
        self.fake = fake

    def write(self, file_obj: object, offset: int, data: bytes) -> Any:
        fake = self.fake
        if fake.drop_after is not None and fake.bytes_written + len(data) > fake.drop_after:
            keep = max(fake.drop_after - fake.bytes_written, 0)
            fake.drop_after = None
            fake.bytes_written += keep
            super().write(file_obj, offset, data[:keep])
            fake.drops += 1
            self.connection.abort()
            return None
        fake.bytes_written += len(data)
        return super().write(file_obj, offset, data)

    def rename(self, oldpath: bytes, newpath: bytes) -> Any:
        self.fake.renamed.append(newpath.decode())
        return super().rename(oldpath, newpath)

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> Any:
        self.fake.renamed.append(newpath.decode())
        return super().posix_rename(oldpath, newpath)


class SftpServer:
    """asyncssh's SSH server with SFTP only, key authentication, on a free loopback port."""

    def __init__(self, tmp: Path) -> None:
        self.root = tmp / "sftp-root"
        self.root.mkdir(parents=True)
        keys = tmp / "sftp-keys"
        keys.mkdir()
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key_file = keys / "id_ed25519"
        client_key.write_private_key(str(self.client_key_file))
        self.client_key_file.chmod(0o600)
        self.authorized_keys = keys / "authorized_keys"
        client_key.write_public_key(str(self.authorized_keys))
        self.known_hosts = keys / "known_hosts"
        self.drop_after: int | None = None
        self.bytes_written = 0
        self.drops = 0
        self.renamed: list[str] = []
        self.port = 0
        self._acceptor: asyncssh.SSHAcceptor | None = None

    async def start(self) -> SftpServer:
        self._acceptor = await asyncssh.listen(
            "127.0.0.1",
            0,
            server_host_keys=[self.host_key],
            authorized_client_keys=str(self.authorized_keys),
            sftp_factory=lambda chan: _SftpSession(chan, self),
            allow_scp=False,
        )
        self.port = self._acceptor.get_port()
        self.pin(self.host_key)
        return self

    def pin(self, key: asyncssh.SSHKey) -> None:
        """Write known_hosts trusting ``key`` for this server (another key: a wrong pin)."""
        public = key.export_public_key().decode().strip()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {public}\n")

    def provider(self, directory: str = "inbox", report_dir: str | None = None) -> SftpProvider:
        """A client for this server, as the settings would build it."""
        (self.root / directory).mkdir(exist_ok=True)
        return SftpProvider(
            host="127.0.0.1",
            port=self.port,
            username=USERNAME,
            key_file=self.client_key_file,
            known_hosts=self.known_hosts,
            directory=directory,
            report_dir=report_dir,
            timeout=10.0,
        )

    async def close(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
