"""Extra worker processes: competing consumers on the work queue, kept running beside the service
process and stopped with it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys

import structlog

log = structlog.get_logger("notifier.supervisor")

COMMAND = (sys.executable, "-m", "notifier", "worker", "--consume-only")


async def supervise_workers(count: int, *, grace: float) -> None:
    """Keep ``count`` more ``notifier worker --consume-only`` processes running; when cancelled
    (shutdown), send each SIGTERM and wait ``grace`` seconds for it before killing it."""
    env = {**os.environ, "NOTIFIER_WORKER_PROCESSES": "1"}
    children: list[asyncio.subprocess.Process] = []

    async def keep_running() -> None:
        child = await asyncio.create_subprocess_exec(*COMMAND, env=env)
        children.append(child)
        while True:
            code = await child.wait()
            log.warning("worker.process_exited", exit_code=code)
            await asyncio.sleep(1)  # a process that dies at once must not spin
            children.remove(child)
            child = await asyncio.create_subprocess_exec(*COMMAND, env=env)
            children.append(child)

    keepers = [asyncio.create_task(keep_running()) for _ in range(count)]
    try:
        await asyncio.gather(*keepers)
    finally:
        for keeper in keepers:
            keeper.cancel()
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                await asyncio.wait_for(child.wait(), grace)
            except TimeoutError:
                child.kill()
                await child.wait()
