"""End-to-end throughput and latency of the real worker, against a bare aio-pika consumer.

    .venv/bin/python bench/throughput.py [--events 20000] [--rate 500] [--latency-seconds 20]

Everything is real and local: a fresh RabbitMQ vhost, a fresh PostgreSQL database (migrated),
``notifier run`` as a child process with email over SMTP to an aiosmtpd server and SMS to the
Twilio HTTP fake (both in a child process of their own, ``bench/_sinks.py``), outcomes published
to ``notifier.outcomes``. Three phases:

1. baseline: the same event bodies preloaded into a quorum queue and drained by a bare aio-pika
   consumer that only acks (same prefetch): the ceiling for this broker on this machine;
2. throughput: ``--events`` events preloaded into ``notifier.events``, then the worker started;
   sustained notifications per second between 5% and 95% of acceptances at the sinks, CPU
   seconds per 1,000 notifications and peak RSS of the worker;
3. latency: events published at ``--rate`` a second for ``--latency-seconds``; end-to-end
   latency (published -> accepted by the SMTP server or the Twilio fake) p50/p95/p99.

After the throughput phase it also prints the window a crash could leave a message accepted but
unrecorded (docs/events.md, "Delivery guarantee"): for each notification, from its acceptance at
the sink to the timestamp of the flush that recorded the provider's answer (``status_history.at``
is taken as that flush begins, so the durable commit is a little later: a lower bound by the
flush's own length).

Not a test: it prints the figures beside their targets and never fails on them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import asyncpg
import psutil
from _common import (
    EVENT_TYPE,
    Publisher,
    Sinks,
    WorkerProcess,
    bodies,
    environment,
    percentile,
)

from notifier.worker.topology import EVENTS, declare

TARGET_RATE = 1000.0
TARGET_RATIO = 1 / 3
TARGET_P99_MS = 250.0
TARGET_RSS_MB = 200.0
RETRY_DELAYS = ("30s", "5m", "30m", "2h")


@dataclass
class Throughput:
    rate: float
    overall_rate: float
    cpu_per_1000: float
    machine_busy: float
    cores_by_role: dict[str, float]
    p50: float
    p95: float
    p99: float
    duplicates: int
    missing: int
    window_p50: float = 0.0
    window_p99: float = 0.0


@dataclass
class Latency:
    offered: float
    p50: float
    p95: float
    p99: float
    max: float
    missing: int


async def baseline(amqp_url: str, messages: list[bytes], prefetch: int) -> float:
    """Messages a second a bare aio-pika consumer acks from a preloaded quorum queue."""
    queue_name = "bench.bare"
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(
            queue_name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        async with Publisher(amqp_url) as publisher:
            await publisher.publish_all(await publisher.exchange(""), messages, queue_name)
        await channel.set_qos(prefetch_count=prefetch)
        done = asyncio.Event()
        seen = 0
        started = 0.0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal seen, started
            if not seen:
                started = time.perf_counter()
            await message.ack()
            seen += 1
            if seen == len(messages):
                done.set()

        tag = await queue.consume(on_message)
        await asyncio.wait_for(done.wait(), timeout=600)
        elapsed = time.perf_counter() - started
        await queue.cancel(tag)
        await queue.delete(if_unused=False, if_empty=False)
    return (len(messages) - 1) / elapsed


# The history row of the provider's answer: the channel's own applied record, not the intent.
RECORDED = """
SELECT n.case_reference, h.at FROM status_history h
JOIN notifications n ON n.id = h.notification_id
WHERE h.applied AND h.source IN ('email', 'sms') AND h.status IN ('sent', 'sending', 'delivered')
  AND (h.reason IS NULL OR h.reason <> 'intent')
"""
_DIGITS = re.compile(r"(\d{8})$")


async def record_windows(database_url: str, acceptances: dict[str, list[float]]) -> list[float]:
    """Milliseconds from each message's first acceptance at a sink to its durable record."""
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        rows = await conn.fetch(RECORDED)
    finally:
        await conn.close()
    windows = []
    for row in rows:
        found = _DIGITS.search(row["case_reference"] or "")
        times = acceptances.get(found.group(1)) if found else None
        if times:
            windows.append((row["at"].timestamp() - min(times)) * 1000)
    return sorted(windows)


def _first_times(acceptances: dict[str, list[float]], refs: range) -> tuple[list[float], int, int]:
    """First acceptance time of each expected reference; (times, duplicates, missing)."""
    firsts, duplicates, missing = [], 0, 0
    for seq in refs:
        times = acceptances.get(f"{seq:08d}")
        if not times:
            missing += 1
            continue
        firsts.append(min(times))
        duplicates += len(times) - 1
    return firsts, duplicates, missing


async def throughput(
    amqp_url: str, worker_env: dict[str, str], messages: list[bytes], args: argparse.Namespace
) -> tuple[Throughput, WorkerProcess]:
    """Preload the work queue, start the worker, watch the sinks until every event is sent."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        await declare(await connection.channel(), RETRY_DELAYS, max_deliveries=5)
    publish_times = time.time()
    async with Publisher(amqp_url) as publisher:
        await publisher.publish_all(await publisher.exchange(EVENTS), messages, EVENT_TYPE)
    total = len(messages)
    sinks: Sinks = args.sinks
    worker = WorkerProcess(
        amqp_url, args.database_url, sinks, args.workdir / "worker.log", **worker_env
    )
    profiler = _profile(worker, args.profile)
    low, high = max(1, int(total * 0.05)), int(total * 0.95)
    marks: dict[str, tuple[float, float, float]] = {}
    roles: dict[str, dict[str, float]] = {}
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        count = sinks.count()
        for name, threshold in (("low", low), ("high", high)):
            if count >= threshold and name not in marks:
                marks[name] = (time.time(), worker.cpu_seconds(), _machine_busy())
                roles[name] = _cpu_by_role(worker, sinks)
        if count >= total:
            break
        if worker.process.poll() is not None:
            raise RuntimeError("worker died:\n" + worker.log_path.read_text()[-3000:])
        await asyncio.sleep(0.05)
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)
        profiler.wait(30)
    acceptances = sinks.acceptances()
    firsts, duplicates, missing = _first_times(acceptances, range(total))
    firsts.sort()
    latencies = sorted((t - publish_times) * 1000 for t in firsts)
    (t_low, cpu_low, busy_low), (t_high, cpu_high, busy_high) = marks["low"], marks["high"]
    rate = (high - low) / (t_high - t_low)
    per_role = {
        role: (roles["high"][role] - roles["low"][role]) / (t_high - t_low) for role in roles["low"]
    }
    result = Throughput(
        rate=rate,
        overall_rate=(len(firsts) - 1) / (firsts[-1] - firsts[0]),
        cpu_per_1000=(cpu_high - cpu_low) / (high - low) * 1000,
        machine_busy=(busy_high - busy_low) / (t_high - t_low) / psutil.cpu_count(),
        cores_by_role=per_role,
        p50=percentile(latencies, 0.50),
        p95=percentile(latencies, 0.95),
        p99=percentile(latencies, 0.99),
        duplicates=duplicates,
        missing=missing,
    )
    windows = await record_windows(args.database_url, acceptances)
    if windows:
        result.window_p50 = percentile(windows, 0.50)
        result.window_p99 = percentile(windows, 0.99)
    return result, worker


async def latency(amqp_url: str, args: argparse.Namespace, first: int) -> Latency:
    """Publish at a fixed rate and time each event from publish to acceptance."""
    sinks: Sinks = args.sinks
    count = int(args.rate * args.latency_seconds)
    messages = bodies(first, count, args.sms_share)
    already = sinks.count()
    published: list[float] = [0.0] * count
    async with Publisher(amqp_url) as publisher:
        exchange = await publisher.exchange(EVENTS)
        pending: set[asyncio.Task[None]] = set()
        start = time.monotonic()
        loop = asyncio.get_running_loop()
        for i, body in enumerate(messages):
            delay = start + i / args.rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            published[i] = time.time()
            task = asyncio.create_task(publisher.publish(exchange, body, EVENT_TYPE))
            pending.add(task)
            task.add_done_callback(pending.discard)
        offered = count / (loop.time() - start)
        await asyncio.gather(*pending)
    deadline = time.monotonic() + args.timeout
    while sinks.count() < already + count and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)  # another process: polled
    acceptances = sinks.acceptances()
    latencies, missing = [], 0
    for i in range(count):
        times = acceptances.get(f"{first + i:08d}")
        if not times:
            missing += 1
            continue
        latencies.append((min(times) - published[i]) * 1000)
    latencies.sort()
    return Latency(
        offered=offered,
        p50=percentile(latencies, 0.50),
        p95=percentile(latencies, 0.95),
        p99=percentile(latencies, 0.99),
        max=latencies[-1] if latencies else float("nan"),
        missing=missing,
    )


def _machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all cores)."""
    times = psutil.cpu_times()
    return float(times.user + times.system + getattr(times, "nice", 0.0))


def _cpu_by_role(worker: WorkerProcess, sinks: Sinks) -> dict[str, float]:
    """CPU seconds so far of the worker, the sinks, RabbitMQ, and everything else on the machine
    (PostgreSQL's backends come and go, so they are counted in the rest)."""
    roles = {"worker": 0.0, "sinks": 0.0, "rabbitmq": 0.0}
    roles["worker"] = worker.cpu_seconds()
    with contextlib.suppress(psutil.Error):
        roles["sinks"] += sum(sinks.ps.cpu_times()[:2])
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] == "beam.smp":
            with contextlib.suppress(psutil.Error):
                roles["rabbitmq"] += sum(proc.cpu_times()[:2])
    roles["rest"] = _machine_busy() - sum(roles.values())
    return roles


def _profile(worker: WorkerProcess, path: Path | None) -> subprocess.Popen[bytes] | None:
    if path is None:
        return None
    spy = Path(sys.executable).parent / "py-spy"
    fmt = "raw" if path.suffix == ".txt" else "flamegraph"
    command = [str(spy), "record", "--pid", str(worker.process.pid), "--rate", "200"]
    command += ["--format", fmt, "--output", str(path), "--nonblocking"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _mark(ok: bool) -> str:
    return "ok" if ok else "BELOW TARGET"


def report(
    base: float, t: Throughput, lat: Latency | None, rss: float, args: argparse.Namespace
) -> None:
    ratio = t.rate / base
    rows = [
        ("bare aio-pika consumer (ack only)", f"{base:,.0f} msg/s", "ceiling", ""),
        (
            "notifier sustained",
            f"{t.rate:,.0f} notifications/s",
            ">= 1,000/s",
            _mark(t.rate >= TARGET_RATE),
        ),
        ("  first to last acceptance", f"{t.overall_rate:,.0f} notifications/s", "", ""),
        ("ratio to bare consumer", f"{ratio:.2f}", ">= 0.33", _mark(ratio >= TARGET_RATIO)),
        ("worker CPU per 1,000 notifications", f"{t.cpu_per_1000:.2f} s", "", ""),
        (
            "machine CPU busy during the window",
            f"{t.machine_busy:.0%} of {psutil.cpu_count()} cores",
            "",
            "",
        ),
        (
            "cores used: " + ", ".join(t.cores_by_role),
            " / ".join(f"{v:.2f}" for v in t.cores_by_role.values()),
            "",
            "",
        ),
        ("worker peak RSS", f"{rss:.0f} MB", "< 200 MB", _mark(rss < TARGET_RSS_MB)),
        (
            "latency under backlog p50/p95/p99",
            f"{t.p50:,.0f} / {t.p95:,.0f} / {t.p99:,.0f} ms",
            "(queue wait: preloaded)",
            "",
        ),
        (
            "provider accept -> durable record p50/p99",
            f"{t.window_p50:,.1f} / {t.window_p99:,.1f} ms",
            "(a crash's window)",
            "",
        ),
        (
            "duplicates / missing",
            f"{t.duplicates} / {t.missing}",
            "0 / 0",
            _mark(t.duplicates == 0 and t.missing == 0),
        ),
    ]
    if lat is not None:
        rows += [
            (
                f"latency at {args.rate:.0f}/s offered ({lat.offered:.0f}/s achieved)",
                f"p50 {lat.p50:.0f} / p95 {lat.p95:.0f} / p99 {lat.p99:.0f} / max {lat.max:.0f} ms",
                "p99 < 250 ms",
                _mark(lat.p99 < TARGET_P99_MS),
            ),
            ("  missing", str(lat.missing), "0", _mark(lat.missing == 0)),
        ]
    print()
    print(
        f"notifier throughput: {args.events:,} events ({args.sms_share:.0%} SMS), "
        f"{psutil.cpu_count()} cores, PostgreSQL, SMTP + Twilio fakes, outcomes published"
    )
    width = max(len(r[0]) for r in rows)
    for name, figure, target, verdict in rows:
        print(f"  {name:<{width}}  {figure:<40} {target:<24} {verdict}")


async def main(args: argparse.Namespace) -> None:
    worker_env = dict(kv.split("=", 1) for kv in args.env)
    async with environment(keep=args.keep) as (amqp_url, database_url):
        args.database_url = database_url
        args.sinks = Sinks()
        worker: WorkerProcess | None = None
        try:
            messages = bodies(0, args.events, args.sms_share)
            print(f"baseline: bare consumer on {len(messages):,} messages ...", flush=True)
            base = await baseline(amqp_url, messages, int(worker_env.get("NOTIFIER_PREFETCH", 200)))
            print(f"throughput: {len(messages):,} events preloaded, then the worker", flush=True)
            result, worker = await throughput(amqp_url, worker_env, messages, args)
            lat = None
            if args.latency_seconds > 0:
                print(
                    f"latency: {args.rate:.0f} events/s for {args.latency_seconds:.0f} s ...",
                    flush=True,
                )
                lat = await latency(amqp_url, args, first=args.events)
            rss = worker.peak_rss_mb()
            report(base, result, lat, rss, args)
        finally:
            if worker is not None:
                code = worker.stop()
                if code != 0:
                    print(f"worker exited {code}; log: {worker.log_path}", file=sys.stderr)
            args.sinks.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Targets: >= 1,000 notifications/s on 2 cores, >= 1/3 of the bare consumer, "
        "p99 < 250 ms at 500 events/s, worker RSS < 200 MB.",
    )
    parser.add_argument("--events", type=int, default=20_000, help="events in the throughput run")
    parser.add_argument("--rate", type=float, default=500.0, help="offered load, events/s")
    parser.add_argument(
        "--latency-seconds", type=float, default=20.0, help="length of the latency run (0: skip)"
    )
    parser.add_argument("--sms-share", type=float, default=0.5, help="share of SMS customers")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after (s)")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra setting for the worker, e.g. NOTIFIER_CONCURRENCY=100 (repeatable)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="py-spy the worker during the throughput run into this file (.svg flame graph, "
        ".txt collapsed stacks)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the vhost and database")
    args = parser.parse_args(argv)
    if args.events < 100:
        parser.error("--events: at least 100")
    return args


if __name__ == "__main__":
    arguments = parse_args()
    with tempfile.TemporaryDirectory(prefix="notifier-bench-") as workdir:
        arguments.workdir = Path(os.environ.get("BENCH_WORKDIR", workdir))
        arguments.workdir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(main(arguments))
