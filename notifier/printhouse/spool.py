"""The print spool: rendered letters waiting for the next dispatch, and the batches they go in.

A spooled letter is a PDF, ``<spool dir>/letters/<notification id>.pdf``, and a ``letter_spool``
row (council, postage, pages, SHA-256). A batch is a ``letter_batches`` row that claims letters
(``letter_spool.batch_id``, set once and never changed) *before* anything is uploaded, so a
letter can never be in two batches. A batch moves forward only:

    claimed --zip built--> built --provider has the file--> uploaded
            --letters moved to sending--> handed-over

The zip of a batch is built under ``<spool dir>/batches/`` and removed, with the batch's PDFs,
once the batch is handed over; the PDF of a letter that will never be printed (suppressed or
failed while it waited) is removed by the next dispatch. The PDFs carry addresses: nothing is
kept longer than needed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.files import write_atomically
from notifier.model import Channel, Status
from notifier.recipients.address import PostalAddress
from notifier.store.notifications import aware
from notifier.store.tables import letter_batches, letter_spool, notifications

LONDON = ZoneInfo("Europe/London")


def postage_class(requested: str, address: PostalAddress) -> str:
    """The postage a letter goes with: Europe and rest-of-world addresses take their zone's
    postage whatever was asked for (Royal Mail's first and second class are UK services); UK
    and BFPO addresses keep ``requested``."""
    return requested if address.zone == "uk" else address.zone


class BatchState(StrEnum):
    CLAIMED = "claimed"
    BUILT = "built"
    UPLOADED = "uploaded"
    HANDED_OVER = "handed-over"


@dataclasses.dataclass(frozen=True, slots=True)
class SpooledLetter:
    """One letter's manifest record: ids, council, postage, pages and hash, no personal data."""

    notification_id: str
    council: str
    postage: str
    pages: int
    sha256: str

    @property
    def file_name(self) -> str:
        return f"{self.notification_id}.pdf"

    @property
    def sheets(self) -> int:
        return (self.pages + 1) // 2


@dataclasses.dataclass(frozen=True, slots=True)
class Batch:
    """One hand-over to the print provider: a zip named ``name``."""

    id: str
    name: str
    state: BatchState
    letters: int
    size: int | None
    sha256: str | None
    created_at: datetime


def batch_name(batch_id: str, created_at: datetime) -> str:
    """The batch's file name at the provider; fixed when the batch is claimed."""
    local = created_at.astimezone(LONDON)
    return f"notifier-{local:%Y%m%d-%H%M%S}-{batch_id[:8]}.zip"


class Spool:
    """The spool directory and its rows."""

    def __init__(self, engine: AsyncEngine, directory: Path) -> None:
        self.engine = engine
        self.directory = directory

    def pdf_path(self, notification_id: str) -> Path:
        return self.directory / "letters" / f"{notification_id}.pdf"

    def zip_path(self, batch: Batch) -> Path:
        return self.directory / "batches" / batch.name

    async def contains(self, notification_id: str) -> bool:
        query = select(letter_spool.c.notification_id).where(
            letter_spool.c.notification_id == notification_id
        )
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).first() is not None

    async def add(self, letter: SpooledLetter, pdf: bytes, at: datetime) -> bool:
        """Spool one letter (the file first, then its row); False if it was spooled before,
        in which case nothing is rewritten (it may already be in a batch)."""
        if await self.contains(letter.notification_id):
            return False
        await asyncio.to_thread(write_atomically, self.pdf_path(letter.notification_id), pdf)
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(letter_spool).values(**dataclasses.asdict(letter), spooled_at=at)
                )
        except IntegrityError:
            return False
        return True

    async def waiting(self) -> list[SpooledLetter]:
        """Letters in no batch whose notification is still ``created``."""
        query = (
            select(*_LETTER_COLUMNS)
            .join(notifications, notifications.c.id == letter_spool.c.notification_id)
            .where(letter_spool.c.batch_id.is_(None))
            .where(notifications.c.status == str(Status.CREATED))
            .order_by(letter_spool.c.notification_id)
        )
        async with self.engine.connect() as conn:
            return [_letter(row) for row in (await conn.execute(query)).all()]

    async def abandoned(self) -> list[str]:
        """Letters in no batch whose notification moved on without being printed (suppressed
        or failed while waiting): their PDFs are no longer needed."""
        query = (
            select(letter_spool.c.notification_id)
            .join(notifications, notifications.c.id == letter_spool.c.notification_id)
            .where(letter_spool.c.batch_id.is_(None))
            .where(notifications.c.status != str(Status.CREATED))
        )
        async with self.engine.connect() as conn:
            return list((await conn.execute(query)).scalars())

    async def claim(self, at: datetime) -> Batch | None:
        """Record a new batch and claim for it every waiting letter, in one transaction; None
        when nothing is waiting. Safe against a concurrent claim: each letter goes to one."""
        batch_id = str(uuid.uuid4())
        name = batch_name(batch_id, at)
        still_created = select(notifications.c.id).where(
            and_(
                notifications.c.status == str(Status.CREATED),
                notifications.c.channel == str(Channel.LETTER),
            )
        )
        async with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Lock the notifications claimed, as a cancel does before it checks for a batch
                # (store/notifications.py): a withdrawal and a claim never both win a letter.
                still_created = still_created.with_for_update()
            await conn.execute(
                insert(letter_batches).values(
                    id=batch_id, name=name, state=str(BatchState.CLAIMED), letters=0, created_at=at
                )
            )
            result = await conn.execute(
                update(letter_spool)
                .where(letter_spool.c.batch_id.is_(None))
                .where(letter_spool.c.notification_id.in_(still_created))
                .values(batch_id=batch_id)
            )
            count = int(result.rowcount or 0)
            if count == 0:
                await conn.execute(delete(letter_batches).where(letter_batches.c.id == batch_id))
                return None
            await conn.execute(
                update(letter_batches).where(letter_batches.c.id == batch_id).values(letters=count)
            )
        return Batch(batch_id, name, BatchState.CLAIMED, count, None, None, at)

    async def unfinished(self) -> list[Batch]:
        """Batches not yet handed over (a dispatch that stopped part-way), oldest first."""
        query = (
            select(letter_batches)
            .where(letter_batches.c.state != str(BatchState.HANDED_OVER))
            .order_by(letter_batches.c.created_at, letter_batches.c.id)
        )
        async with self.engine.connect() as conn:
            return [_batch(row) for row in (await conn.execute(query)).all()]

    async def batches(self) -> list[Batch]:
        """Every batch, oldest first."""
        query = select(letter_batches).order_by(letter_batches.c.created_at, letter_batches.c.id)
        async with self.engine.connect() as conn:
            return [_batch(row) for row in (await conn.execute(query)).all()]

    async def letters_in(self, batch_id: str) -> list[SpooledLetter]:
        """The letters a batch claimed, in manifest order."""
        query = (
            select(*_LETTER_COLUMNS)
            .where(letter_spool.c.batch_id == batch_id)
            .order_by(letter_spool.c.notification_id)
        )
        async with self.engine.connect() as conn:
            return [_letter(row) for row in (await conn.execute(query)).all()]

    async def advance(self, batch: Batch, state: BatchState, **values: Any) -> Batch:
        """Move a batch forward, with the values that state adds (size, hash, timestamps)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(letter_batches)
                .where(letter_batches.c.id == batch.id)
                .values(state=str(state), **values)
            )
        known = {f.name for f in dataclasses.fields(Batch)}
        return dataclasses.replace(
            batch, state=state, **{k: v for k, v in values.items() if k in known}
        )

    def remove_files(self, batch: Batch, letters: list[SpooledLetter]) -> None:
        """Forget the PDFs and the zip of a batch the provider has."""
        self.remove_pdfs([letter.notification_id for letter in letters])
        self.zip_path(batch).unlink(missing_ok=True)

    def remove_pdfs(self, notification_ids: list[str]) -> None:
        for notification_id in notification_ids:
            self.pdf_path(notification_id).unlink(missing_ok=True)


_LETTER_COLUMNS = [letter_spool.c[f.name] for f in dataclasses.fields(SpooledLetter)]


def _letter(row: Any) -> SpooledLetter:
    return SpooledLetter(
        **{f.name: getattr(row, f.name) for f in dataclasses.fields(SpooledLetter)}
    )


def _batch(row: Any) -> Batch:
    return Batch(
        id=row.id,
        name=row.name,
        state=BatchState(row.state),
        letters=row.letters,
        size=row.size,
        sha256=row.sha256,
        created_at=aware(row.created_at),
    )
