"""The spooling letter channel (folder and sftp providers): render, spool, stay ``created``."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from notifier.app import build_channels
from notifier.channels.outbox import LetterOutbox
from notifier.errors import PermanentFailure, TechnicalFailure
from notifier.lifecycle import Lifecycle
from notifier.model import Channel, Receipt, Status
from notifier.preferences.store import PreferenceStore
from notifier.printhouse.channel import SpoolingLetterChannel
from notifier.printhouse.spool import Spool
from notifier.processing import Ack, Delivery, Processor
from notifier.retries import RetryPolicy
from notifier.settings import LetterProvider, load_settings
from notifier.store.notifications import NotificationStore
from notifier.store.tables import letter_spool
from notifier.templates.source import Catalogue
from tests.events import body, make_event
from tests.fakes.channels import FakeChannel, RecordingSink
from tests.printhouse.spooled import (
    COUNCILS,
    clean_letter_tables,
    letter,
    new_letter_notification,
)

NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DISTINCTIVE = ("Flat 9", "Quillfeather Mews", "Zennorwick", "CV37 6AA")


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncEngine:
    """The migrated store with empty letter tables."""
    await clean_letter_tables(engine)
    return engine


async def spool_rows(engine: AsyncEngine) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(letter_spool))).mappings().all()
    return [dict(r) for r in rows]


async def test_letter_is_rendered_into_the_spool_and_stays_created(
    db: AsyncEngine, tmp_path: Path
) -> None:
    """Through the processor, an address-only recipient's letter is spooled (PDF and row with
    council, postage, pages, hash) and the notification stays created with no outcome."""
    sink = RecordingSink()
    channel = SpoolingLetterChannel(Spool(db, tmp_path / "spool"), clock=lambda: NOON)
    notifications = NotificationStore(db)
    processor = Processor(
        catalogue=Catalogue.load(),
        councils=COUNCILS,
        lifecycle=Lifecycle(notifications, sink),
        preferences=PreferenceStore(db),
        channels={
            Channel.EMAIL: FakeChannel("email"),
            Channel.SMS: FakeChannel("sms"),
            Channel.LETTER: channel,
        },
        retries=RetryPolicy((30.0,), max_attempts=3),
        clock=lambda: NOON,
    )
    recipient = {
        "name": "Alex Smith",
        "address": ["Flat 2", "10 High Street", "Stratford-upon-Avon", "CV37 6AA"],
    }
    event = make_event(recipient=recipient, postage="first")
    assert await processor.handle(Delivery(body(event))) == Ack("created")
    [row] = await notifications.for_event(event["source"], event["id"])
    assert (row.channel, row.status, row.provider_ref) == ("letter", Status.CREATED, None)
    assert sink.published == []
    [spooled] = await spool_rows(db)
    pdf = (tmp_path / "spool" / "letters" / f"{row.id}.pdf").read_bytes()
    assert spooled["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert (spooled["council"], spooled["postage"], spooled["batch_id"]) == ("sdc", "first", None)
    assert spooled["pages"] == 1 and pdf.startswith(b"%PDF")


@pytest.mark.parametrize(
    ("address", "postage"),
    [
        (("12 Rue de Rivoli", "75001 Paris", "France"), "europe"),
        (("350 Fifth Avenue", "New York NY 10118", "USA"), "rest-of-world"),
        (("Sgt A Smith", "1 Regiment", "BFPO 105"), "first"),
        (("1 Rue du Pont", "St Helier", "JE2 3AB"), "first"),
    ],
    ids=["europe", "rest-of-world", "bfpo", "jersey"],
)
async def test_postage_of_international_letters_comes_from_the_address_zone(
    db: AsyncEngine, tmp_path: Path, address: tuple[str, ...], postage: str
) -> None:
    """Europe and rest-of-world addresses take their zone's postage; BFPO and the Crown
    dependencies keep the postage asked for (letters.md §6)."""
    notification_id = await new_letter_notification(NotificationStore(db))
    channel = SpoolingLetterChannel(Spool(db, tmp_path))
    receipt = await channel.send(letter(notification_id, address=address, postage="first"))
    assert receipt == Receipt(Status.CREATED, provider_ref=None)
    [spooled] = await spool_rows(db)
    assert spooled["postage"] == postage


async def test_invalid_address_is_permanent_failure_naming_no_address(
    db: AsyncEngine, tmp_path: Path
) -> None:
    """An address with no postcode or country fails permanently with its rule's code; neither
    the exception nor any log line carries the address or name, and nothing is spooled."""
    notification_id = await new_letter_notification(NotificationStore(db))
    channel = SpoolingLetterChannel(Spool(db, tmp_path))
    message = letter(notification_id, address=DISTINCTIVE[:3], name="Wilhelmina Quillfeather")
    with capture_logs() as logs, pytest.raises(PermanentFailure) as caught:
        await channel.send(message)
    assert (caught.value.code, caught.value.detail) == (
        "invalid-address",
        "not-a-real-uk-postcode-or-country",
    )
    text = str(caught.value) + repr(logs)
    for secret in (*DISTINCTIVE[:3], "Quillfeather", "QUILLFEATHER", "ZENNORWICK"):
        assert secret not in text
    assert await spool_rows(db) == []


async def test_too_long_letter_is_permanent_failure(db: AsyncEngine, tmp_path: Path) -> None:
    """A letter past the printer's page limit fails permanently as letter-too-long."""
    notification_id = await new_letter_notification(NotificationStore(db))
    channel = SpoolingLetterChannel(Spool(db, tmp_path))
    with pytest.raises(PermanentFailure) as caught:
        await channel.send(letter(notification_id, paragraphs=700))
    assert caught.value.code == "letter-too-long"
    assert await spool_rows(db) == []


async def test_redelivered_letter_is_spooled_once(db: AsyncEngine, tmp_path: Path) -> None:
    """Sending the same notification again (a redelivery) keeps the one spooled letter."""
    notification_id = await new_letter_notification(NotificationStore(db))
    spool = Spool(db, tmp_path)
    channel = SpoolingLetterChannel(spool)
    await channel.send(letter(notification_id))
    first = spool.pdf_path(notification_id).stat().st_mtime_ns
    assert await channel.send(letter(notification_id)) == Receipt(Status.CREATED)
    assert len(await spool_rows(db)) == 1
    assert spool.pdf_path(notification_id).stat().st_mtime_ns == first


async def test_unwritable_spool_is_retryable_technical_failure(
    db: AsyncEngine, tmp_path: Path
) -> None:
    """A spool directory that cannot be written is a technical failure, retried."""
    blocker = tmp_path / "spool"
    blocker.write_text("a file where the spool directory should be")
    notification_id = await new_letter_notification(NotificationStore(db))
    channel = SpoolingLetterChannel(Spool(db, blocker))
    with pytest.raises(TechnicalFailure) as caught:
        await channel.send(letter(notification_id))
    assert caught.value.code == "spool-write-failed" and caught.value.retryable


async def test_build_channels_spools_for_folder_and_sftp_only(
    db: AsyncEngine, tmp_path: Path
) -> None:
    """``outbox`` keeps the LetterOutbox; ``folder`` (and ``sftp``) spool on the given engine."""
    outbox = build_channels(load_settings(outbox_dir=tmp_path), db)
    assert isinstance(outbox[Channel.LETTER], LetterOutbox)
    folder = build_channels(
        load_settings(
            letter_provider=LetterProvider.FOLDER, print_dir=tmp_path, spool_dir=tmp_path
        ),
        db,
    )
    channel = folder[Channel.LETTER]
    assert isinstance(channel, SpoolingLetterChannel)
    assert channel.spool.engine is db and not channel.owns_engine
