"""Helpers for the print hand-over tests: letters spooled through the real channel, batches
read back, and a clean slate for the letter tables (the shared fixture truncates the rest)."""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
import zipfile
from datetime import date
from pathlib import Path

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.councils import load_councils
from notifier.messages import LetterMessage, Paragraph
from notifier.printhouse.channel import SpoolingLetterChannel
from notifier.printhouse.spool import Spool
from notifier.store.notifications import NewNotification, NotificationStore
from notifier.store.tables import letter_batches, letter_spool

COUNCILS = load_councils()
ADDRESS = ("Flat 2", "10 High Street", "Stratford-upon-Avon", "CV37 6AA")


async def clean_letter_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(letter_spool))
        await conn.execute(delete(letter_batches))


async def new_letter_notification(notifications: NotificationStore, council: str = "sdc") -> str:
    row = await notifications.create(
        NewNotification(
            event_source=f"/councils/{council}/planning",
            event_id=str(uuid.uuid4()),
            event_type="planning.application.received",
            council=council,
            channel="letter",
            case_reference="24/01234/FUL",
        )
    )
    assert row is not None
    return row.id


def letter(
    notification_id: str,
    *,
    council: str = "sdc",
    address: tuple[str, ...] = ADDRESS,
    name: str | None = "Alex Smith",
    postage: str = "second",
    paragraphs: int = 1,
) -> LetterMessage:
    return LetterMessage(
        notification_id=notification_id,
        council=COUNCILS[council],
        event_type="planning.application.received",
        address=address,
        name=name,
        title="We have your planning application",
        reference="24/01234/FUL",
        blocks=tuple(Paragraph(f"Paragraph {n} of the letter.") for n in range(paragraphs)),
        date=date(2026, 11, 30),
        postage=postage,
    )


async def spool_letters(engine: AsyncEngine, spool_dir: Path, count: int) -> list[str]:
    """``count`` letters rendered and spooled by the real channel; their notification ids."""
    notifications = NotificationStore(engine)
    channel = SpoolingLetterChannel(Spool(engine, spool_dir))
    ids = []
    for n in range(count):
        notification_id = await new_letter_notification(notifications, ("sdc", "wdc")[n % 2])
        await channel.send(letter(notification_id, council=("sdc", "wdc")[n % 2], paragraphs=n))
        ids.append(notification_id)
    return sorted(ids)


def read_batch(path: Path) -> tuple[list[dict[str, str]], dict[str, bytes]]:
    """A batch zip's manifest rows and its PDFs by file name."""
    with zipfile.ZipFile(path) as archive:
        manifest = archive.read("manifest.csv").decode("utf-8")
        pdfs = {n: archive.read(n) for n in archive.namelist() if n != "manifest.csv"}
    return list(csv.DictReader(io.StringIO(manifest))), pdfs


def assert_consistent(path: Path, expected_ids: list[str]) -> None:
    """The batch holds exactly these letters, and every manifest hash matches its PDF."""
    rows, pdfs = read_batch(path)
    assert sorted(r["letter_id"] for r in rows) == sorted(expected_ids)
    assert sorted(pdfs) == sorted(f"{i}.pdf" for i in expected_ids)
    for row in rows:
        assert hashlib.sha256(pdfs[row["file"]]).hexdigest() == row["sha256"]
