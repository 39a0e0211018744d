"""The letter channel for a real print provider (``folder`` or ``sftp``): each letter is rendered
and spooled, and stays ``created`` until the next dispatch hands its batch over
(``notifier.printhouse.dispatch``), when it moves to ``sending``.

    InvalidAddress           -> PermanentFailure("invalid-address", <address rule code>)
    LetterError (too long,
      unprintable character) -> PermanentFailure(<code>)
    spool not writable       -> TechnicalFailure("spool-write-failed")   retried
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.errors import TechnicalFailure
from notifier.letters.render import render_for_post
from notifier.messages import LetterMessage, Message, expect
from notifier.model import Receipt, Status
from notifier.printhouse.spool import Spool, SpooledLetter, postage_class
from notifier.settings import LetterSettings


class SpoolingLetterChannel:
    """Renders each letter to the print spool; the dispatch does the rest."""

    name = "letter"
    idempotent = True  # the spool holds one letter per notification id

    def __init__(
        self,
        spool: Spool,
        *,
        owns_engine: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.spool = spool
        self.owns_engine = owns_engine
        self.clock = clock

    @classmethod
    def from_settings(cls, letters: LetterSettings, engine: AsyncEngine) -> SpoolingLetterChannel:
        """The channel spooling to ``NOTIFIER_SPOOL_DIR``, recording in the service's store."""
        return cls(Spool(engine, letters.spool_dir))

    async def send(self, message: Message) -> Receipt:
        message = expect(message, LetterMessage)
        receipt = Receipt(Status.CREATED, provider_ref=None)
        if await self.spool.contains(message.notification_id):
            return receipt  # a redelivery: the letter is spooled (or batched) already
        letter = render_for_post(message)
        record = SpooledLetter(
            notification_id=message.notification_id,
            council=message.council.code,
            postage=postage_class(message.postage, letter.address),
            pages=letter.pages,
            sha256=hashlib.sha256(letter.pdf).hexdigest(),
        )
        try:
            await self.spool.add(record, letter.pdf, self.clock())
        except OSError as exc:
            raise TechnicalFailure("spool-write-failed", type(exc).__name__) from None
        return dataclasses.replace(receipt, content=letter.pdf)

    async def aclose(self) -> None:
        if self.owns_engine:
            await self.spool.engine.dispose()
