"""Polling a bounce mailbox over IMAP (RFC 9051): the usual Microsoft 365 set-up, a shared
mailbox that receives the bounce domain's mail, or any IMAP server.

Each poll opens one connection (implicit TLS on 993 by default, or STARTTLS, RFC 8314), logs in
with a password or with XOAUTH2 (the same token provider as the SMTP channel; Microsoft's
"Authenticate an IMAP connection using OAuth"), selects the folder and takes up to ``batch``
messages by UID. Each message is applied, then moved (``UID MOVE``, RFC 6851) to the processed
folder, or to the refused folder when the intake refused it; a message whose application failed
on our side stays where it is for the next poll. So nothing is lost if the service dies
mid-batch, and a message is applied a second time only if it died between applying that one
message and moving it: the intake makes that repeat change nothing (``duplicate``).

imaplib is blocking: every IMAP exchange runs in a worker thread; the intake runs in the loop.
Server replies can quote addresses, so errors are logged by type only.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import imaplib
import re
import ssl
from collections.abc import Awaitable, Callable
from typing import Literal

import structlog

from notifier.bounces.intake import Intake

log = structlog.get_logger("notifier.bounces.imap")

TokenProvider = Callable[[], Awaitable[str]]
ImapTls = Literal["implicit", "starttls", "none"]
_UID = re.compile(rb"UID (\d+)")


@dataclasses.dataclass(frozen=True, slots=True)
class Mailbox:
    """Where the bounces are and how to log in."""

    host: str
    port: int
    username: str
    password: str | None = None
    token_provider: TokenProvider | None = None
    tls: ImapTls = "implicit"
    folder: str = "INBOX"
    processed: str = "Processed"
    refused: str = "Refused"
    batch: int = 50
    timeout: float = 30.0
    tls_context: ssl.SSLContext | None = None


class _Session:
    """One blocking IMAP connection (used from a worker thread only)."""

    def __init__(self, box: Mailbox, token: str | None) -> None:
        context = box.tls_context or ssl.create_default_context()
        if box.tls == "implicit":
            self.conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                box.host, box.port, ssl_context=context, timeout=box.timeout
            )
        else:
            self.conn = imaplib.IMAP4(box.host, box.port, timeout=box.timeout)
            if box.tls == "starttls":
                self.conn.starttls(context)
        if token is not None:
            auth = f"user={box.username}\x01auth=Bearer {token}\x01\x01".encode()
            self.conn.authenticate("XOAUTH2", lambda _: auth)
        else:
            self.conn.login(box.username, box.password or "")
        for name in (box.processed, box.refused):
            self.conn.create(_quote(name))  # NO [ALREADYEXISTS] when it is there: fine
        status, _ = self.conn.select(_quote(box.folder))
        if status != "OK":
            raise imaplib.IMAP4.error("cannot select the bounce folder")

    def fetch(self, limit: int) -> list[tuple[str, bytes]]:
        """Up to ``limit`` (uid, message) pairs, oldest first, without setting \\Seen."""
        status, data = self.conn.uid("SEARCH", "ALL")
        if status != "OK" or not data or not data[0]:
            return []
        uids = [uid.decode("ascii") for uid in data[0].split()[:limit]]
        found = []
        for uid in uids:
            status, parts = self.conn.uid("FETCH", uid, "(UID BODY.PEEK[])")
            for part in parts or ():
                if isinstance(part, tuple) and _UID.search(part[0]):
                    found.append((uid, part[1]))
        return found

    def move(self, uid: str, folder: str) -> None:
        status, _ = self.conn.uid("MOVE", uid, _quote(folder))
        if status != "OK":
            raise imaplib.IMAP4.error("move refused")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.logout()


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ImapPoller:
    """Polls one mailbox and applies what it finds."""

    def __init__(self, intake: Intake, box: Mailbox) -> None:
        self.intake = intake
        self.box = box

    async def poll_once(self) -> int:
        """One poll: the messages applied and moved (a full batch means: poll again soon)."""
        token = await self.box.token_provider() if self.box.token_provider else None
        session = await asyncio.to_thread(_Session, self.box, token)
        try:
            messages = await asyncio.to_thread(session.fetch, self.box.batch)
            done = 0
            for uid, data in messages:
                try:
                    applied = await self.intake.apply(data)
                except Exception as exc:  # ours: leave it in the folder for the next poll
                    log.warning("bounce.apply_failed", error=type(exc).__name__)
                    continue
                folder = self.box.refused if applied.refused else self.box.processed
                await asyncio.to_thread(session.move, uid, folder)
                done += 1
            return done
        finally:
            await asyncio.to_thread(session.close)

    async def poll_forever(self, interval: float) -> None:
        """Poll every ``interval`` seconds (at once again after a full batch); never raises."""
        while True:
            try:
                done = await self.poll_once()
            except Exception as exc:
                log.warning("bounce.imap_failed", error=type(exc).__name__)
                done = 0
            if done < self.box.batch:
                await asyncio.sleep(interval)
