"""Group commit: concurrent calls coalesced into one database round trip.

Each caller submits an item and waits; one flush at a time hands everything queued so far (up to
``max_batch``) to ``run``, which does the work in one transaction and returns one result (or
exception) per item. Callers are answered only after ``run`` returns, so a write is durable
before its caller hears of it. If ``run`` raises, the batch is replayed one item at a time, so a
bad item fails only its own caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

Runner = Callable[[Sequence[T]], Awaitable[Sequence[R | Exception]]]


class GroupCommit(Generic[T, R]):
    """Coalesces concurrent ``submit`` calls into batches for ``run``."""

    def __init__(self, run: Runner[T, R], *, max_batch: int = 500) -> None:
        self._run = run
        self._max_batch = max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((item, future))
        flusher = self._flusher
        if flusher is None or flusher.done() or flusher.get_loop() is not loop:
            self._flusher = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        """Flush what is queued, then what queued up meanwhile, until nothing is left."""
        while self._queue:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            try:
                await self._flush(batch)
            except BaseException:
                for _, future in batch:  # cancelled mid-flush (shutdown): nobody waits for ever
                    if not future.done():
                        future.cancel()
                raise

    async def _flush(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._run([item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                if not batch[0][1].done():
                    batch[0][1].set_exception(exc)
                return
            for one in batch:
                await self._flush([one])
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue  # its caller was cancelled; the work stands, as it would have
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
