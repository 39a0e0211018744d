"""Fuzzed malformed events against the running worker: it never crashes, and every one is
dead-lettered with a reason (or, valid by chance, notified)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.faults.harness import World, event, until

pytestmark = pytest.mark.faults

EXAMPLES = 200
DELETE = object()
PATHS = [
    ("specversion",),
    ("id",),
    ("source",),
    ("type",),
    ("time",),
    ("subject",),
    ("datacontenttype",),
    ("data",),
    ("data", "council"),
    ("data", "recipient"),
    ("data", "recipient", "customer_id"),
    ("data", "recipient", "email"),
    ("data", "recipient", "mobile"),
    ("data", "recipient", "address"),
    ("data", "recipient", "name"),
    ("data", "personalisation"),
    ("data", "personalisation", "decision_due"),
    ("data", "personalisation", "application_address"),
    ("data", "urgent"),
    ("data", "postage"),
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


_numbers = itertools.count(500_000)  # each fuzzed event its own case reference


def _mutate(sms: bool, changes: list[tuple[tuple[str, ...], Any]]) -> bytes:
    document: Any = event(next(_numbers), sms=sms)
    for path, value in changes:
        target = document
        for key in path[:-1]:
            if not isinstance(target, dict) or not isinstance(target.get(key), dict):
                break
            target = target[key]
        else:
            if isinstance(target, dict):
                if value is DELETE:
                    target.pop(path[-1], None)
                else:
                    target[path[-1]] = value
    return json.dumps(document).encode()


mutated = st.builds(
    _mutate,
    st.booleans(),
    st.lists(
        st.tuples(st.sampled_from(PATHS), st.just(DELETE) | json_values), min_size=1, max_size=3
    ),
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.text(max_size=200).map(str.encode),
    mutated,
    mutated,
)
content_types = st.sampled_from(
    ["application/cloudevents+json"] * 8 + ["application/json", "text/plain", ""]
)


def malformed(count: int) -> list[tuple[bytes, str]]:
    """``count`` fuzzed (body, content type) pairs (hypothesis, generation phase only)."""
    found: list[tuple[bytes, str]] = []

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(bodies, content_types)
    def collect(body: bytes, content_type: str) -> None:
        found.append((body, content_type))

    collect()
    return found


async def test_fuzzed_events_are_dead_lettered_with_a_reason_and_the_worker_survives(
    world: World,
) -> None:
    """200 fuzzed bodies: each is dead-lettered with a reason or (valid by chance) accounted for
    in the store; none crashes processing, and the same worker process is alive at the end."""
    service = world.service()
    service.start()
    await service.wait_ready()
    cases = malformed(EXAMPLES)
    ids = await world.publish(cases)
    await service.wait_processed(len(cases), timeout=60)
    tally = await world.settled(ids, timeout=60)
    world.report(f"fuzzed malformed events ({len(cases)})", tally)
    assert tally.lost == []
    assert tally.dead + tally.notified + tally.failed + tally.suppressed == len(cases)
    assert "crash" not in tally.dead_reasons, tally.dead_reasons
    assert "notification.crashed" not in service.logs()
    await until(lambda: service.process is not None and service.process.poll() is None, 1, "up")
