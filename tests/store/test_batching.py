"""GroupCommit: concurrent calls share one run, results go back to their own callers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from notifier.store.batching import GroupCommit


async def test_concurrent_submits_share_one_run_and_get_their_own_results() -> None:
    """Twenty concurrent submits are run as one batch; each caller gets its own answer."""
    runs: list[list[int]] = []

    async def run(items: Sequence[int]) -> list[int | Exception]:
        runs.append(list(items))
        return [item * 10 for item in items]

    batches: GroupCommit[int, int] = GroupCommit(run)
    results = await asyncio.gather(*(batches.submit(n) for n in range(20)))
    assert results == [n * 10 for n in range(20)]
    assert runs == [list(range(20))]


async def test_batches_are_bounded_and_what_queues_meanwhile_runs_next() -> None:
    """No run takes more than max_batch items; the rest follow in later runs."""
    sizes: list[int] = []

    async def run(items: Sequence[int]) -> list[int | Exception]:
        sizes.append(len(items))
        return list(items)

    batches: GroupCommit[int, int] = GroupCommit(run, max_batch=4)
    assert await asyncio.gather(*(batches.submit(n) for n in range(10))) == list(range(10))
    assert sizes == [4, 4, 2]


async def test_a_result_that_is_an_exception_fails_only_its_caller() -> None:
    """A per-item exception is raised in that caller alone."""

    async def run(items: Sequence[int]) -> list[int | Exception]:
        return [ValueError("odd") if item % 2 else item for item in items]

    batches: GroupCommit[int, int] = GroupCommit(run)
    results = await asyncio.gather(*(batches.submit(n) for n in range(4)), return_exceptions=True)
    assert results[0] == 0 and results[2] == 2
    assert isinstance(results[1], ValueError) and isinstance(results[3], ValueError)


async def test_a_failed_run_is_replayed_item_by_item() -> None:
    """When the whole run raises, each item is retried alone, so only the bad one fails."""
    runs: list[list[int]] = []

    async def run(items: Sequence[int]) -> list[int | Exception]:
        runs.append(list(items))
        if 3 in items:
            raise RuntimeError("constraint violated")
        return list(items)

    batches: GroupCommit[int, int] = GroupCommit(run)
    results = await asyncio.gather(*(batches.submit(n) for n in range(5)), return_exceptions=True)
    assert results[:3] == [0, 1, 2] and results[4] == 4
    assert isinstance(results[3], RuntimeError)
    assert runs[0] == [0, 1, 2, 3, 4] and [3] in runs[1:]


async def test_cancelled_caller_does_not_break_the_batch() -> None:
    """A caller that gives up is skipped; the others still get their results."""
    gate = asyncio.Event()

    async def run(items: Sequence[int]) -> list[int | Exception]:
        await gate.wait()
        return list(items)

    batches: GroupCommit[int, int] = GroupCommit(run)
    first = asyncio.create_task(batches.submit(1))
    second = asyncio.create_task(batches.submit(2))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    assert await second == 2
    with pytest.raises(asyncio.CancelledError):
        await first
