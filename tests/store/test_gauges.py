"""The store's gauges: the database's round trip and where the letters stand."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier import metrics
from notifier.jobs import observe_store
from notifier.lifecycle import Lifecycle
from notifier.model import Status
from notifier.printhouse.dispatch import Dispatcher
from notifier.printhouse.providers import FolderProvider
from notifier.printhouse.spool import Spool
from notifier.store.database import create_engine
from notifier.store.gauges import letter_counts, oldest_handed_over, round_trip
from notifier.store.notifications import NotificationStore
from tests.fakes.channels import RecordingSink
from tests.printhouse.spooled import clean_letter_tables, spool_letters


async def test_round_trip_is_a_short_positive_time(engine: AsyncEngine) -> None:
    """SELECT 1 on a reachable database takes more than nothing and less than a second."""
    seconds = await round_trip(engine)
    assert seconds is not None
    assert 0 < seconds < 1


async def test_round_trip_is_none_when_the_database_does_not_answer() -> None:
    """A database that cannot be reached gives None, and the probe sets notifier_database_up 0."""
    dead = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    try:
        assert await round_trip(dead) is None
        await observe_store(dead, letters=False)
        assert metrics.REGISTRY.get_sample_value("notifier_database_up") == 0
    finally:
        await dead.dispose()


async def test_letters_move_from_waiting_to_handed_over_to_posted_and_returned(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Four spooled letters count as waiting; after a dispatch as handed over; a posted and a
    returned report move one each, and the gauges follow the counts."""
    await clean_letter_tables(engine)
    spool_dir = tmp_path / "spool"
    ids = await spool_letters(engine, spool_dir, 4)
    assert await letter_counts(engine) == {
        "waiting": 4,
        "batched": 0,
        "handed-over": 0,
        "posted": 0,
        "returned": 0,
    }
    lifecycle = Lifecycle(NotificationStore(engine), RecordingSink())
    dispatcher = Dispatcher(
        spool=Spool(engine, spool_dir), lifecycle=lifecycle, provider=FolderProvider(tmp_path / "p")
    )
    await dispatcher.dispatch()
    await lifecycle.move_id(ids[0], Status.POSTED, source="print-report")
    await lifecycle.move_id(ids[1], Status.RETURNED, source="print-report")
    counts = await letter_counts(engine)
    assert (counts["waiting"], counts["handed-over"], counts["posted"], counts["returned"]) == (
        0,
        2,
        1,
        1,
    )
    await observe_store(engine, letters=True)
    assert metrics.REGISTRY.get_sample_value("notifier_letters", {"state": "handed-over"}) == 2
    oldest = await oldest_handed_over(engine)
    assert oldest is not None
    assert 0 <= (datetime.now(UTC) - oldest).total_seconds() < 60
    age = metrics.REGISTRY.get_sample_value("notifier_letters_oldest_handed_over_seconds")
    assert age is not None and 0 <= age < 60
    assert metrics.REGISTRY.get_sample_value("notifier_database_up") == 1
