"""The inbound SMTP listener for the bounce domains (aiosmtpd, in the service's event loop).

The council's MX or relay forwards mail for the bounce domains here. It is not a relay: ``RCPT``
is accepted only for a return path this service signed (``verp.py``), so mail for anyone else,
and forged or other councils' tokens, are refused before any data is sent. The message size is
limited (``SIZE``, RFC 1870; aiosmtpd answers 552 past it), STARTTLS is offered when a
certificate is configured (RFC 3207; not required, since MTAs fall back to plain text), and a
message is answered only once it has been applied, so a failure on our side (451) leaves it with
the sending server to retry: nothing is lost.

| applied result | reply |
|---|---|
| applied, noted, ignored, duplicate | 250 |
| malformed, loop | 554 5.6.0 |
| unknown-notification, purged, not-email, unsigned | 550 5.1.1 |
| our own failure (the database is down) | 451 4.3.0 |
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session

from notifier.bounces.intake import Intake

log = structlog.get_logger("notifier.bounces.listener")

MAX_RECIPIENTS = 20
_PARALLEL = 16  # messages applied at once; a burst waits its turn in the SMTP dialogue


def server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """The STARTTLS context: TLS 1.2 at least (NCSC)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


class _Handler:
    def __init__(self, intake: Intake) -> None:
        self.intake = intake
        self.slots = asyncio.Semaphore(_PARALLEL)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        if not self.intake.accepts(address):
            domain = address.rpartition("@")[2].lower()
            if domain not in self.intake.return_paths.domains:
                return "550 5.7.1 Relaying denied"
            return "550 5.1.1 No such recipient"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        try:
            async with self.slots:
                applied = await self.intake.apply(data, envelope.rcpt_tos)
        except Exception as exc:  # ours, not the sender's: let it try again later
            log.warning("bounce.apply_failed", error=type(exc).__name__)
            return "451 4.3.0 Try again later"
        if applied.result in ("malformed", "loop"):
            return "554 5.6.0 Message not understood"
        if applied.refused:
            return "550 5.1.1 No such recipient"
        return "250 2.0.0 OK"


class Listener:
    """The bound listener; ``port`` is the one it listens on (useful with port 0)."""

    def __init__(
        self,
        intake: Intake,
        *,
        host: str,
        port: int,
        max_size: int,
        hostname: str | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.intake = intake
        self.host = host
        self.port = port
        self.max_size = max_size
        self.hostname = hostname
        self.tls_context = tls_context
        self._handler = _Handler(intake)
        self._server: asyncio.Server | None = None

    async def start(self) -> Listener:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._session, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("bounce.listener.started", port=self.port, tls=self.tls_context is not None)
        return self

    def _session(self) -> SMTP:
        return SMTP(
            self._handler,
            data_size_limit=self.max_size,
            hostname=self.hostname,
            tls_context=self.tls_context,
            require_starttls=False,
            timeout=60,
            loop=asyncio.get_running_loop(),
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            log.info("bounce.listener.stopped")

    async def serve_until_cancelled(self) -> None:
        """Start, then listen until the task is cancelled (a job for ``jobs.py``)."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()
