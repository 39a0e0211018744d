"""Running the real service (``notifier run``) as a child process for end-to-end tests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aio_pika
import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    """``notifier run`` on its own vhost, SQLite file, outbox and port."""

    def __init__(self, tmp: Path, amqp_url: str, **env: str) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.outbox = tmp / "outbox"
        self.database_url = env.pop("NOTIFIER_DATABASE_URL", f"sqlite+aiosqlite:///{tmp / 'n.db'}")
        self.env = {
            **os.environ,
            "NOTIFIER_AMQP_URL": amqp_url,
            "NOTIFIER_DATABASE_URL": self.database_url,
            "NOTIFIER_OUTBOX_DIR": str(self.outbox),
            "NOTIFIER_HTTP_PORT": str(self.port),
            "NOTIFIER_LOG_FORMAT": "json",
            "NOTIFIER_SHUTDOWN_GRACE": "10",
            **env,
        }
        self.log_path = tmp / f"service-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *args: str) -> ServiceProcess:
        self.log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "notifier", *(args or ("run",))],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=self.tmp,
        )
        return self

    async def wait_ready(self, timeout: float = 30) -> None:
        """Until /readyz says ready (broker connected, database reachable)."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                assert self.process and self.process.poll() is None, self.logs()
                try:
                    r = await client.get(f"http://127.0.0.1:{self.port}/readyz")
                    if r.status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("service not ready in time:\n" + self.logs())

    async def metric(self, name: str) -> float:
        """The sum of a metric's samples whose line starts with ``name``."""
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{self.port}/metrics")).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name) and not line.startswith("#")
        )

    async def wait_processed(self, count: int, timeout: float = 20) -> None:
        """Until ``count`` events have been settled (acked, retried or dead-lettered)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self.metric("notifier_events_processed_total") >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"fewer than {count} events settled in {timeout}s")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if hasattr(self, "log"):
            self.log.close()


async def publish_raw(
    url: str, events: Sequence[dict[str, Any] | bytes], routing_key: str | None = None
) -> None:
    """Publish with plain aio-pika, as any AMQP client would (not our publisher)."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange("notifier.events", "topic", durable=True)
        for event in events:
            raw = event if isinstance(event, bytes) else json.dumps(event).encode()
            key = routing_key or (event["type"] if isinstance(event, dict) else "x.y.z")
            await exchange.publish(
                aio_pika.Message(
                    raw,
                    content_type="application/cloudevents+json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=key,
            )


async def drain(url: str, queue: str, *, expect: int, timeout: float = 20) -> list[Any]:
    """Take ``expect`` messages from ``queue`` (acking them), waiting up to ``timeout``."""
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        q = await channel.declare_queue(queue, passive=True)
        while len(got) < expect and time.monotonic() < deadline:
            message = await q.get(no_ack=True, fail=False)
            if message is None:
                await asyncio.sleep(0.05)
                continue
            got.append(message)
    return got


async def bind_outcomes(url: str, name: str) -> None:
    """A queue that collects every outcome event (declared before the service starts)."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange("notifier.outcomes", "topic", durable=True)
        queue = await channel.declare_queue(name, durable=True)
        await queue.bind(exchange, "#")
