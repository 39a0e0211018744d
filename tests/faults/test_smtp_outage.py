"""The SMTP relay unreachable for a while, then back: retried with backoff, then delivered."""

from __future__ import annotations

import asyncpg
import pytest

from tests.faults.harness import World, accepted, mixed, until

pytestmark = pytest.mark.faults


async def retry_notes(world: World) -> dict[str, list[float]]:
    """Notification id -> times (epoch seconds) of its SMTP retry notes, in order."""
    conn = await asyncpg.connect(world.database_url.replace("+asyncpg", ""))
    try:
        rows = await conn.fetch(
            "SELECT notification_id, extract(epoch FROM at) AS at FROM status_history"
            " WHERE reason LIKE 'retry:smtp-%' ORDER BY id"
        )
    finally:
        await conn.close()
    notes: dict[str, list[float]] = {}
    for row in rows:
        notes.setdefault(row["notification_id"], []).append(float(row["at"]))
    return notes


async def flagged_duplicates(world: World) -> int:
    """Notifications the service resent after a send of unknown outcome (history note
    ``possible-duplicate``: the relay may have had the first copy; both carry one Message-ID)."""
    conn = await asyncpg.connect(world.database_url.replace("+asyncpg", ""))
    try:
        count: int = await conn.fetchval(
            "SELECT count(DISTINCT notification_id) FROM status_history"
            " WHERE reason = 'possible-duplicate'"
        )
    finally:
        await conn.close()
    return count


async def test_smtp_down_then_back_is_retried_with_backoff_and_delivered(world: World) -> None:
    """With the relay refusing connections, emails go round the 1s then 2s delay queues; once it
    is back every one is delivered, none dead-lettered. None is sent twice, except where the
    outage cut a connection after the relay took the message but before its reply reached us:
    SMTP cannot tell (RFC 1047), so that resend is flagged a possible duplicate."""
    service = world.service()
    service.start()
    await service.wait_ready()
    ids = await world.publish(mixed(300, sms_every=10**6))  # email only
    await until(lambda: accepted(world.sinks) >= 30, 60, "30 emails accepted")
    assert world.sinks.gate is not None
    await world.sinks.gate.close()

    async def backing_off() -> bool:  # some email has failed three times while it was down
        return any(len(times) >= 3 for times in (await retry_notes(world)).values())

    await until(backing_off, 60, "an email retried three times")
    await world.sinks.gate.open()
    tally = await world.settled(ids, timeout=120)
    world.report("SMTP relay down, then back", tally)
    assert tally.lost == []
    flagged = await flagged_duplicates(world)
    print(f"  resends flagged possible-duplicate: {flagged}")
    assert tally.notified == 300 and tally.dead == 0 and tally.duplicated <= flagged
    notes = await retry_notes(world)
    gaps = [(t[1] - t[0], t[2] - t[1]) for t in notes.values() if len(t) >= 3]
    assert gaps, "no email was retried three times"
    # Each retry waits in its delay queue (1s, then 2s) before it is tried again.
    assert all(first >= 0.9 and second >= 1.9 for first, second in gaps), gaps
