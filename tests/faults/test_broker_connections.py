"""The broker drops the worker's connections mid-stream: the robust connection recovers alone."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from tests.faults.harness import World, accepted, mixed, until

pytestmark = pytest.mark.faults


def close_connections(vhost: str) -> None:
    """Close every client connection of this test's vhost (and no other) from the broker side."""
    subprocess.run(
        [
            "rabbitmqctl",
            "-q",
            "close_all_connections",
            "--vhost",
            vhost,
            "--limit",
            "100",
            "fault injection",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )


async def test_connections_closed_by_broker_twice_then_everything_sent(world: World) -> None:
    """Twice mid-stream the broker closes the worker's connection; it reconnects by itself
    (the process is never restarted), consumes again, and every event is notified."""
    service = world.service()
    service.start()
    await service.wait_ready()
    ids = await world.publish(mixed(600))
    for closes, threshold in enumerate((100, 300), start=1):
        await until(lambda t=threshold: accepted(world.sinks) >= t, 60, f"{threshold} accepted")
        await asyncio.to_thread(close_connections, world.vhost)
        await until(
            lambda n=closes: service.logs().count("CONNECTION_FORCED") >= n, 30, "close seen"
        )
        await service.wait_ready()  # /readyz: the broker connection is back
    tally = await world.settled(ids, timeout=120)
    world.report("broker closed the worker's connections twice", tally)
    assert tally.lost == []
    assert tally.notified == 600 and tally.dead == 0
    assert service.process is not None and service.process.poll() is None
