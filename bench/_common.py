"""What the benchmarks share: a throwaway vhost and PostgreSQL database, the providers' sinks in
their own process, the real worker process, event bodies and a pipelined publisher."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import psutil

# The bench shares the tests' event builder and fakes (run from a checkout).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.events import load_event

ROOT = Path(__file__).resolve().parent.parent
AMQP_ROOT = os.environ.get("BENCH_AMQP_ROOT", "amqp://guest:guest@127.0.0.1:5672/")
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_BASE = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
EVENT_TYPE = "planning.application.received"
# Twilio's test credentials for the fake (tests/fakes/twilio.py).
TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "fake-auth-token-0123456789abcdef"


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def environment(keep: bool = False) -> AsyncIterator[tuple[str, str]]:
    """A fresh vhost and a migrated PostgreSQL database: (amqp url, database url)."""
    tag = uuid.uuid4().hex[:10]
    vhost, database = f"notifier-bench-{tag}", f"notifier_bench_{tag}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    await _pg_admin(f'CREATE DATABASE "{database}"')
    database_url = f"{PG_BASE}/{database}"
    try:
        migrate = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "notifier",
            "db",
            "upgrade",
            env={**os.environ, "NOTIFIER_DATABASE_URL": database_url},
            stdout=subprocess.DEVNULL,
        )
        if await migrate.wait() != 0:
            raise RuntimeError("notifier db upgrade failed")
        yield f"{AMQP_ROOT}{vhost}", database_url
    finally:
        if not keep:
            await asyncio.to_thread(rabbitmqctl, "delete_vhost", vhost)
            await _pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


class Sinks:
    """bench/_sinks.py as a child process: the SMTP fake and the Twilio fake."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "_sinks.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        hello = self._line()
        self.smtp_port: int = hello["smtp_port"]
        self.twilio_url: str = hello["twilio_url"]
        self.ps = psutil.Process(self.process.pid)

    def _line(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the sinks process died")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._line()

    def count(self) -> int:
        answer = self._ask("count")
        return int(answer["email"]) + int(answer["sms"])

    def acceptances(self) -> dict[str, list[float]]:
        """Acceptance times by case reference number, email and SMS together."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "dump.json"
            self._ask(f"dump {path}")
            dumped = json.loads(path.read_text())
        merged: dict[str, list[float]] = {}
        for per_channel in dumped.values():
            for ref, times in per_channel.items():
                merged.setdefault(ref, []).extend(times)
        return merged

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._ask("quit")
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        if self.process.poll() is None:
            self.process.kill()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ChildProcess:
    """A process the bench starts and measures: CPU and peak memory of it and its children."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log_path = log
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            command, env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=log.parent
        )
        self.ps = psutil.Process(self.process.pid)

    def processes(self) -> list[psutil.Process]:
        """The process and the processes it started (the service's extra worker processes,
        NOTIFIER_WORKER_PROCESSES)."""
        with contextlib.suppress(psutil.Error):
            return [self.ps, *self.ps.children(recursive=True)]
        return [self.ps]

    def cpu_seconds(self) -> float:
        """CPU of every process together (the children's own times, while they live)."""
        total = 0.0
        for proc in self.processes():
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += float(times.user + times.system)
        return total

    def peak_rss_by_process(self) -> list[float]:
        """VmHWM of each process, MB: the most resident memory each one has had."""
        peaks = []
        for proc in self.processes():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks.append(int(line.split()[1]) / 1024)
        return peaks

    def peak_rss_mb(self) -> float:
        """VmHWM of the largest process: the most resident memory one process had."""
        return max(self.peak_rss_by_process(), default=0.0)

    def died(self) -> str | None:
        """The end of its log if it has exited, else None."""
        if self.process.poll() is None:
            return None
        return f"exited {self.process.returncode}:\n" + self.log_path.read_text()[-3000:]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return int(self.process.returncode)


class WorkerProcess(ChildProcess):
    """``notifier run`` on PostgreSQL with SMTP and Twilio pointed at the sinks."""

    def __init__(
        self, amqp_url: str, database_url: str, sinks: Sinks, log: Path, **env: str
    ) -> None:
        self.port = free_port()
        super().__init__(
            [sys.executable, "-m", "notifier", "run"],
            {
                **os.environ,
                "NOTIFIER_AMQP_URL": amqp_url,
                "NOTIFIER_DATABASE_URL": database_url,
                "NOTIFIER_HTTP_PORT": str(self.port),
                "NOTIFIER_LOG_FORMAT": "json",
                "NOTIFIER_SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789",
                "NOTIFIER_EMAIL_PROVIDER": "smtp",
                "NOTIFIER_SMTP_HOST": "127.0.0.1",
                "NOTIFIER_SMTP_PORT": str(sinks.smtp_port),
                "NOTIFIER_SMTP_TLS": "none",
                "NOTIFIER_SMS_PROVIDER": "twilio",
                "NOTIFIER_TWILIO_BASE_URL": sinks.twilio_url,
                "NOTIFIER_TWILIO_ACCOUNT_SID": TWILIO_SID,
                "NOTIFIER_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
                "NOTIFIER_SMS_ALLOW_FICTION_RANGE": "true",
                # The fake has no rate limit; Twilio's is per sender and bought, not ours.
                "NOTIFIER_TWILIO_SEGMENTS_PER_SECOND": "100000",
                **env,
            },
            log,
        )

    async def wait_ready(self, within: float = 60) -> None:
        import httpx

        deadline = time.monotonic() + within
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError("worker exited:\n" + self.log_path.read_text()[-3000:])
                with contextlib.suppress(httpx.TransportError):
                    r = await client.get(f"http://127.0.0.1:{self.port}/readyz")
                    if r.status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError("worker not ready in time")


class FloorProcess(ChildProcess):
    """``bench/floor.py`` draining ``queue`` to the same sinks and database as the worker."""

    def __init__(
        self,
        amqp_url: str,
        database_url: str,
        sinks: Sinks,
        log: Path,
        *,
        queue: str,
        prefetch: int,
        smtp_pool: int,
    ) -> None:
        command = [sys.executable, str(ROOT / "bench" / "floor.py"), "--amqp-url", amqp_url]
        command += ["--queue", queue, "--database-url", database_url]
        command += ["--smtp-port", str(sinks.smtp_port), "--twilio-url", sinks.twilio_url]
        command += ["--prefetch", str(prefetch), "--smtp-pool", str(smtp_pool)]
        super().__init__(command, dict(os.environ), log)


def event(seq: int, *, sms: bool, customer: str | None = None) -> dict[str, Any]:
    """A bench event whose case reference (``BENCH00000042``) carries ``seq``."""
    return load_event(f"BENCH{seq:08d}", seq, sms=sms, customer=customer or f"BENCH-{seq}")


def bodies(first: int, count: int, sms_share: float) -> list[bytes]:
    """``count`` event bodies numbered from ``first``; every n-th is SMS for ``sms_share``."""
    step = max(1, round(1 / sms_share)) if sms_share > 0 else 0
    return [
        json.dumps(event(seq, sms=bool(step) and seq % step == 0)).encode()
        for seq in range(first, first + count)
    ]


class Publisher:
    """Publishes to an exchange with confirms, many in flight at once."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def __aenter__(self) -> Publisher:
        self.connection = await aio_pika.connect(self.url)
        self.channel = await self.connection.channel(publisher_confirms=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()

    async def exchange(self, name: str) -> aio_pika.abc.AbstractExchange:
        if name == "":
            return self.channel.default_exchange
        return await self.channel.get_exchange(name)

    async def publish(
        self,
        exchange: aio_pika.abc.AbstractExchange,
        body: bytes,
        routing_key: str,
    ) -> None:
        await exchange.publish(
            aio_pika.Message(
                body,
                content_type="application/cloudevents+json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=routing_key,
        )

    async def publish_all(
        self,
        exchange: aio_pika.abc.AbstractExchange,
        messages: Iterable[bytes],
        routing_key: str,
        window: int = 500,
    ) -> None:
        """As fast as the broker confirms, ``window`` unconfirmed at a time."""
        pending: set[asyncio.Task[None]] = set()
        for body in messages:
            if len(pending) >= window:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
            pending.add(asyncio.create_task(self.publish(exchange, body, routing_key)))
        if pending:
            await asyncio.gather(*pending)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted ``values``."""
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, round(fraction * len(values) + 0.5) - 1))
    return values[index]
