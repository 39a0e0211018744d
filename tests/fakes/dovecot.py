"""A real IMAP server (Debian's Dovecot) on a loopback port, for the bounce mailbox tests.

Started by the test with a generated configuration in its own directory (removed on stop): one
user with a password (passwd-file), maildir storage, plaintext login allowed only because it
listens on 127.0.0.1. As root, mail is stored as ``nobody`` and the login processes run as
Dovecot's own users (``dovenull``, ``dovecot``, from the package); as anyone else, everything
runs as that user.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.service import free_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER, PASSWORD = "bounces", "mailbox-secret"


def available() -> bool:
    return Path(DOVECOT).exists()


class Dovecot:
    """``dovecot -F`` with a configuration of its own; ``append`` puts a message in a folder."""

    def __init__(self) -> None:
        # Its own directory straight under /tmp: Dovecot's users (dovecot, nobody) must be able
        # to reach it, which pytest's 0700 temporary directories do not allow.
        self.root = Path(tempfile.mkdtemp(prefix="notifier-dovecot-"))
        self.root.chmod(0o755)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def _config(self) -> Path:
        root = self.root
        for sub in ("run", "home", "state"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            mail = pwd.getpwnam("nobody")
            login_user, internal_user = "dovenull", "dovecot"
            os.chown(root / "home", mail.pw_uid, mail.pw_gid)
        else:
            mail = pwd.getpwuid(os.geteuid())
            login_user = internal_user = mail.pw_name
        (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n", "utf-8")
        config = root / "dovecot.conf"
        config.write_text(
            f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = 1
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail.pw_uid} gid={mail.pw_gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
""",
            "utf-8",
        )
        return config

    def service_env(self) -> dict[str, str]:
        """The ``NOTIFIER_BOUNCE_IMAP_*`` settings that point a service's poller at this server,
        polling every second."""
        return {
            "NOTIFIER_BOUNCE_IMAP_HOST": "127.0.0.1",
            "NOTIFIER_BOUNCE_IMAP_PORT": str(self.port),
            "NOTIFIER_BOUNCE_IMAP_TLS": "none",
            "NOTIFIER_BOUNCE_IMAP_USERNAME": USER,
            "NOTIFIER_BOUNCE_IMAP_PASSWORD": PASSWORD,
            "NOTIFIER_BOUNCE_IMAP_POLL_INTERVAL": "1s",
        }

    def start(self) -> Dovecot:
        config = self._config()
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.logs()}")
            with contextlib.suppress(OSError, imaplib.IMAP4.error), self.client():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"dovecot did not start: {self.logs()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def logs(self) -> str:
        path = self.root / "dovecot.log"
        stderr = b""
        if self.process is not None and self.process.poll() is not None and self.process.stderr:
            stderr = self.process.stderr.read()
        return (path.read_text(errors="replace") if path.exists() else "") + stderr.decode()

    @contextlib.contextmanager
    def client(self) -> Iterator[imaplib.IMAP4]:
        conn = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        try:
            conn.login(USER, PASSWORD)
            yield conn
        finally:
            with contextlib.suppress(Exception):
                conn.logout()

    def append(self, data: bytes, folder: str = "INBOX") -> None:
        """Deliver ``data`` into ``folder``, as the council's mail system would."""
        with self.client() as conn:
            conn.create(folder)  # "already exists" is an answer, not an exception
            status, _ = conn.append(folder, "", imaplib.Time2Internaldate(time.time()), data)
            assert status == "OK"

    def append_many(self, messages: list[bytes], folder: str = "INBOX") -> None:
        """Deliver every message into ``folder`` over one connection."""
        with self.client() as conn:
            conn.create(folder)
            for data in messages:
                status, _ = conn.append(folder, "", imaplib.Time2Internaldate(time.time()), data)
                assert status == "OK"

    def count(self, folder: str) -> int:
        with self.client() as conn:
            status, data = conn.select(folder, readonly=True)
            return int(data[0] or 0) if status == "OK" else 0
