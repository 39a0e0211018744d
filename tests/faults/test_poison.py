"""A poison event whose template crashes at render every time: dead-lettered after a bounded
number of deliveries, the rest unaffected."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from tests.faults.harness import World, event, mixed

pytestmark = pytest.mark.faults

# Infinite recursion in the sandbox is a RecursionError, which rendering does not map to an
# invalid event: it reaches the worker's catch-all, as a bug in a template would.
POISON = (
    "{% macro boom() %}{{ boom() }}{% endmacro %}"
    '{% if poison is defined and poison == "yes" %}{{ boom() }}{% endif %}\n'
)
MAX_ATTEMPTS = 3


def poisoned_templates(folder: Path) -> Path:
    """A template dir overriding planning.application.received with a body that crashes when
    the event's personalisation has ``poison: yes``."""
    name = "planning.application.received.md"
    catalogue = resources.files("notifier.templates").joinpath("catalogue")
    shipped = catalogue.joinpath(name).read_text("utf-8")
    head, _, body = shipped.partition("\n+++\n")
    folder.mkdir()
    (folder / name).write_text(f"{head}\n+++\n{POISON}{body}", "utf-8")
    return folder


async def test_template_crash_is_dead_lettered_after_bounded_deliveries(
    world: World, tmp_path: Path
) -> None:
    """The poison event is tried MAX_ATTEMPTS times (through the delay queues) and then
    dead-lettered with reason ``crash``; the 100 events around it are all sent."""
    service = world.service(
        NOTIFIER_TEMPLATE_DIR=str(poisoned_templates(tmp_path / "templates")),
        NOTIFIER_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
    )
    service.start()
    await service.wait_ready()
    events = mixed(100)
    events.insert(50, event(100, poison="yes"))
    ids = await world.publish(events)
    tally = await world.settled(ids, timeout=90)
    world.report("poison template", tally)
    assert tally.lost == []
    assert tally.notified == 100 and tally.dead == 1
    [poisoned] = [world.dead[i] for i in ids if i in world.dead]
    assert poisoned["x-notifier-reason"] == "crash"
    assert "RecursionError" in poisoned["x-notifier-detail"]
    assert poisoned["x-notifier-attempt"] == MAX_ATTEMPTS - 1  # delivered MAX_ATTEMPTS times
    assert service.process is not None and service.process.poll() is None
