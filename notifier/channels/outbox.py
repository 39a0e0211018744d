"""The ``outbox`` provider of each channel: messages written as files, for development and for
running on a fresh machine without credentials.

``$NOTIFIER_OUTBOX_DIR/email/<id>.eml``, ``sms/<id>.json`` and ``letter/<id>.pdf``, each written
atomically (a temporary file, flushed to disk, then renamed into place).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

from notifier.channels.mime import build_email
from notifier.errors import PermanentFailure, TechnicalFailure
from notifier.files import write_atomically
from notifier.letters.render import render_for_post
from notifier.messages import EmailMessage, LetterMessage, Message, SmsMessage, expect
from notifier.model import Receipt, Status
from notifier.recipients.mobile import InvalidMobile, normalise_uk_mobile


class _Outbox:
    name = "outbox"
    idempotent = True  # one file per notification id, replaced whole: a resend rewrites it
    folder = ""
    suffix = ""

    def __init__(self, root: Path) -> None:
        self.dir = root / self.folder

    async def _write(self, notification_id: str, data: bytes) -> Receipt:
        path = self.dir / f"{notification_id}{self.suffix}"
        try:
            await asyncio.to_thread(write_atomically, path, data)
        except OSError as exc:
            raise TechnicalFailure("outbox-write-failed", type(exc).__name__) from None
        return Receipt(status=Status.SENT, provider_ref=path.name, content=data)

    async def aclose(self) -> None:
        return None


class EmailOutbox(_Outbox):
    """Email as ``.eml`` files, exactly as they would go to the relay."""

    name = "email"
    folder = "email"
    suffix = ".eml"

    async def send(self, message: Message) -> Receipt:
        message = expect(message, EmailMessage)
        wire = build_email(message, now=datetime.now(UTC))
        return await self._write(message.notification_id, wire.data)


class SmsOutbox(_Outbox):
    """Text messages as JSON: to (E.164), from, body and fragment count. The number is checked
    by the same rule as Twilio's channel, so the outbox refuses what Twilio would."""

    name = "sms"
    folder = "sms"
    suffix = ".json"

    def __init__(self, root: Path, *, allow_fiction_range: bool = False) -> None:
        super().__init__(root)
        self._allow_fiction_range = allow_fiction_range

    async def send(self, message: Message) -> Receipt:
        message = expect(message, SmsMessage)
        try:
            to = normalise_uk_mobile(message.to, allow_fiction_range=self._allow_fiction_range)
        except InvalidMobile as exc:
            raise PermanentFailure("invalid-mobile", exc.code) from None
        document = {
            "to": to,
            "from": message.council.sms_sender,
            "body": message.body,
            "fragments": message.fragments,
        }
        receipt = await self._write(message.notification_id, json.dumps(document).encode())
        return dataclasses.replace(receipt, fragments=message.fragments)


class LetterOutbox(_Outbox):
    """Letters as print-ready PDFs."""

    name = "letter"
    folder = "letter"
    suffix = ".pdf"

    async def send(self, message: Message) -> Receipt:
        message = expect(message, LetterMessage)
        letter = render_for_post(message)
        return await self._write(message.notification_id, letter.pdf)
