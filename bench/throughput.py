"""End-to-end throughput and latency of the real worker, against a bare aio-pika consumer and a
floor that does only the I/O every notification must do.

    .venv/bin/python bench/throughput.py [--events 20000] [--processes 1,2] [--rate R]
                                         [--latency-seconds 20]

Everything is real and local: a fresh RabbitMQ vhost, a fresh PostgreSQL database (migrated),
``notifier run`` as a child process with email over SMTP to an aiosmtpd server and SMS to the
Twilio HTTP fake (both in a child process of their own, ``bench/_sinks.py``), outcomes published
to ``notifier.outcomes``. The phases:

1. baseline: the event bodies preloaded into a quorum queue and drained by a bare aio-pika
   consumer that only acks (same prefetch): the ceiling for this broker on this machine;
2. floor: the same bodies preloaded into another quorum queue and drained by ``bench/floor.py``
   in a process of its own (consume, one SMTP transaction or one Twilio POST to the same sinks,
   a batched INSERT and UPDATE in the same database, one confirmed outcome, ack); its rate and
   CPU per 1,000 notifications, measured as the worker's are;
3. for each count in ``--processes`` (``NOTIFIER_WORKER_PROCESSES``, default 1 then 2):
   a. throughput: ``--events`` events preloaded into ``notifier.events``, then the worker
      started; sustained notifications per second between 5% of acceptances at the sinks (or
      the moment every worker process is consuming, if later) and 95%, CPU seconds per 1,000
      notifications of all the worker's processes together, over the floor's, and the peak RSS
      of each process;
   b. latency: events published at 80% of the rate that run sustained (or at ``--rate``) for
      ``--latency-seconds``, the same worker still running; end-to-end latency (published ->
      accepted by the SMTP server or the Twilio fake) p50/p95/p99/max and the rate achieved.

Each phase numbers its events on from the last (case references ``BENCH00000042``), so the sinks
tell the phases apart in one run.

After each throughput phase it also prints the window a crash could leave a message accepted but
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
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import asyncpg
import psutil
from _common import (
    EVENT_TYPE,
    ChildProcess,
    FloorProcess,
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
TARGET_FLOOR_CPU = 1.5
TARGET_P99_MS = 250.0
TARGET_RSS_MB = 200.0
RETRY_DELAYS = ("30s", "5m", "30m", "2h")
FLOOR_QUEUE = "bench.floor"
# The latency runs' load: this share of the rate the throughput run before it sustained.
LATENCY_LOAD = 0.8
# Cores "the rest of the machine" (anyone else, and PostgreSQL's shared processes) may use during
# a window before the figures are flagged as disturbed.
DISTURBED_CORES = 0.25


@dataclass
class Window:
    """What is measured between 5% (or later: ``start_share``) and 95% of a phase's
    acceptances at the sinks."""

    start_share: float
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
    acceptances: dict[str, list[float]]


@dataclass
class Latency:
    rate: float
    offered: float
    accepted: float
    p50: float
    p95: float
    p99: float
    max: float
    missing: int
    cpu_per_1000: float
    cores_by_role: dict[str, float]


@dataclass
class FloorRun:
    window: Window
    rss_mb: float
    recorded: int  # rows the floor left in floor_notifications as sent
    total: int


@dataclass
class Run:
    """One throughput run of the worker with ``processes`` worker processes."""

    processes: int
    window: Window
    record_p50: float = 0.0
    record_p99: float = 0.0
    rss_mb: list[float] = field(default_factory=list)
    latency: Latency | None = None


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


async def measure(
    child: ChildProcess,
    role: str,
    refs: range,
    published_at: float,
    args: argparse.Namespace,
    *,
    queue: str,
    consumers: int,
) -> Window:
    """Watch the sinks until every one of ``refs`` is accepted; the rate, and ``child``'s CPU
    per 1,000, from 5% of them or from when ``queue`` has all ``consumers`` (each worker
    process has started), whichever is later, to 95% (start-up excluded)."""
    sinks: Sinks = args.sinks
    total = len(refs)
    already = sinks.count()
    low, high = max(1, int(total * 0.05)), int(total * 0.95)
    marks: dict[str, tuple[float, float, float, int]] = {}
    roles: dict[str, dict[str, float]] = {}
    deadline = time.monotonic() + args.timeout
    async with await aio_pika.connect(args.amqp_url) as connection:
        channel = await connection.channel()
        started = False
        while time.monotonic() < deadline:
            if not started:
                declared = await channel.declare_queue(queue, passive=True)
                started = (declared.declaration_result.consumer_count or 0) >= consumers
            count = sinks.count() - already
            for name, threshold in (("low", low), ("high", high)):
                if started and count >= threshold and name not in marks:
                    marks[name] = (time.time(), child.cpu_seconds(), _machine_busy(), count)
                    roles[name] = _cpu_by_role(role, child, args)
            if count >= total:
                break
            if (death := child.died()) is not None:
                raise RuntimeError(f"{role} {death}")
            await asyncio.sleep(0.05)  # another process: polled
    if "high" not in marks:
        raise RuntimeError(
            f"{role}: {sinks.count() - already} of {total} sent in time, or all sent before "
            f"{consumers} processes were consuming (more --events)"
        )
    acceptances = sinks.acceptances()
    firsts, duplicates, missing = _first_times(acceptances, refs)
    firsts.sort()
    latencies = sorted((t - published_at) * 1000 for t in firsts)
    (t_low, cpu_low, busy_low, n_low) = marks["low"]
    (t_high, cpu_high, busy_high, n_high) = marks["high"]
    per_role = {
        name: (roles["high"][name] - roles["low"][name]) / (t_high - t_low) for name in roles["low"]
    }
    return Window(
        start_share=n_low / total,
        rate=(n_high - n_low) / (t_high - t_low),
        overall_rate=(len(firsts) - 1) / (firsts[-1] - firsts[0]),
        cpu_per_1000=(cpu_high - cpu_low) / (n_high - n_low) * 1000,
        machine_busy=(busy_high - busy_low) / (t_high - t_low) / psutil.cpu_count(),
        cores_by_role=per_role,
        p50=percentile(latencies, 0.50),
        p95=percentile(latencies, 0.95),
        p99=percentile(latencies, 0.99),
        duplicates=duplicates,
        missing=missing,
        acceptances=acceptances,
    )


async def floor(amqp_url: str, messages: list[bytes], args: argparse.Namespace) -> FloorRun:
    """The same bodies preloaded into a quorum queue, drained by ``bench/floor.py``."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(
            FLOOR_QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
        )
        published_at = time.time()
        async with Publisher(amqp_url) as publisher:
            await publisher.publish_all(await publisher.exchange(""), messages, FLOOR_QUEUE)
        process = FloorProcess(
            amqp_url,
            args.database_url,
            args.sinks,
            args.workdir / "floor.log",
            queue=FLOOR_QUEUE,
            prefetch=args.prefetch,
            smtp_pool=args.smtp_pool,
        )
        try:
            window = await measure(
                process,
                "floor",
                range(len(messages)),
                published_at,
                args,
                queue=FLOOR_QUEUE,
                consumers=1,
            )
            rss = process.peak_rss_mb()
        finally:
            code = process.stop()
        if code != 0:
            raise RuntimeError(f"the floor exited {code}: {process.log_path.read_text()[-3000:]}")
        await queue.delete(if_unused=False, if_empty=False)
    conn = await asyncpg.connect(args.database_url.replace("+asyncpg", ""))
    try:
        recorded = await conn.fetchval(
            "SELECT count(*) FROM floor_notifications WHERE status = 'sent'"
        )
    finally:
        await conn.close()
    return FloorRun(window, rss, int(recorded), len(messages))


# The history row of the provider's answer: the channel's own applied record, not the intent.
RECORDED = """
SELECT n.case_reference, h.at FROM status_history h
JOIN notifications n ON n.id = h.notification_id
WHERE h.applied AND h.source IN ('email', 'sms') AND h.status IN ('sent', 'sending', 'delivered')
  AND (h.reason IS NULL OR h.reason <> 'intent')
"""
_DIGITS = re.compile(r"(\d{8})$")


async def record_windows(
    database_url: str, acceptances: dict[str, list[float]], refs: range
) -> list[float]:
    """Milliseconds from each message's first acceptance at a sink to its durable record, for
    the events numbered ``refs``."""
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        rows = await conn.fetch(RECORDED)
    finally:
        await conn.close()
    windows = []
    for row in rows:
        found = _DIGITS.search(row["case_reference"] or "")
        if not found or int(found.group(1)) not in refs:
            continue
        times = acceptances.get(found.group(1))
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
    amqp_url: str,
    worker_env: dict[str, str],
    messages: list[bytes],
    refs: range,
    args: argparse.Namespace,
) -> tuple[Run, WorkerProcess]:
    """Preload the work queue, start the worker, watch the sinks until every event is sent."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        await declare(await connection.channel(), RETRY_DELAYS, max_deliveries=5)
    published_at = time.time()
    async with Publisher(amqp_url) as publisher:
        await publisher.publish_all(await publisher.exchange(EVENTS), messages, EVENT_TYPE)
    processes = int(worker_env["NOTIFIER_WORKER_PROCESSES"])
    log = args.workdir / f"worker-{processes}.log"
    worker = WorkerProcess(amqp_url, args.database_url, args.sinks, log, **worker_env)
    try:
        profiler = _profile(worker, args.profile, processes, len(args.processes) > 1)
        try:
            window = await measure(
                worker, "worker", refs, published_at, args, queue=EVENTS, consumers=processes
            )
        finally:
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(30)
        result = Run(processes, window)
        windows = await record_windows(args.database_url, window.acceptances, refs)
    except BaseException:
        worker.stop()
        raise
    if windows:
        result.record_p50 = percentile(windows, 0.50)
        result.record_p99 = percentile(windows, 0.99)
    return result, worker


async def latency(
    amqp_url: str, worker: WorkerProcess, args: argparse.Namespace, first: int, rate: float
) -> Latency:
    """Publish at ``rate`` a second and time each event from publish to acceptance; the rate
    achieved is both the publishing rate and the sinks' first-to-last acceptance rate. Also the
    worker's CPU per 1,000 and the cores by role from the first publish to the last acceptance."""
    sinks: Sinks = args.sinks
    count = latency_count(rate, args)
    messages = bodies(first, count, args.sms_share)
    already = sinks.count()
    published: list[float] = [0.0] * count
    roles_before, t_before = _cpu_by_role("worker", worker, args), time.time()
    async with Publisher(amqp_url) as publisher:
        exchange = await publisher.exchange(EVENTS)
        pending: set[asyncio.Task[None]] = set()
        start = time.monotonic()
        loop = asyncio.get_running_loop()
        for i, body in enumerate(messages):
            delay = start + i / rate - loop.time()
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
    roles_after, t_after = _cpu_by_role("worker", worker, args), time.time()
    acceptances = sinks.acceptances()
    latencies, accepted, missing = [], [], 0
    for i in range(count):
        times = acceptances.get(f"{first + i:08d}")
        if not times:
            missing += 1
            continue
        accepted.append(min(times))
        latencies.append((min(times) - published[i]) * 1000)
    latencies.sort()
    accepted.sort()
    return Latency(
        rate=rate,
        offered=offered,
        accepted=(len(accepted) - 1) / (accepted[-1] - accepted[0]) if len(accepted) > 1 else 0.0,
        p50=percentile(latencies, 0.50),
        p95=percentile(latencies, 0.95),
        p99=percentile(latencies, 0.99),
        max=latencies[-1] if latencies else float("nan"),
        missing=missing,
        cpu_per_1000=(roles_after["worker"] - roles_before["worker"]) / count * 1000,
        cores_by_role={
            name: (roles_after[name] - roles_before[name]) / (t_after - t_before)
            for name in roles_before
        },
    )


def _machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all cores)."""
    times = psutil.cpu_times()
    return float(times.user + times.system + getattr(times, "nice", 0.0))


def _cpu_by_role(role: str, child: ChildProcess, args: argparse.Namespace) -> dict[str, float]:
    """CPU seconds so far of the measured processes (``role``: the worker processes together, or
    the floor), the sinks, RabbitMQ, the PostgreSQL backends serving the bench's database, this
    bench process, and the rest of the machine: other users, and PostgreSQL's shared processes
    (WAL writer, checkpointer) and any backend that has already exited."""
    sinks: Sinks = args.sinks
    roles = {role: child.cpu_seconds(), "sinks": 0.0, "rabbitmq": 0.0, "postgres": 0.0}
    with contextlib.suppress(psutil.Error):
        roles["sinks"] += sum(sinks.ps.cpu_times()[:2])
    ours = f" {args.database_url.rsplit('/', 1)[1]} "
    for proc in psutil.process_iter(["name", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if proc.info["name"] == "beam.smp":
                roles["rabbitmq"] += sum(proc.cpu_times()[:2])
            elif proc.info["name"] == "postgres" and ours in " ".join(proc.info["cmdline"] or []):
                roles["postgres"] += sum(proc.cpu_times()[:2])
    roles["bench"] = sum(psutil.Process().cpu_times()[:2])
    roles["rest"] = _machine_busy() - sum(roles.values())
    return roles


def _profile(
    worker: WorkerProcess, path: Path | None, processes: int, several: bool
) -> subprocess.Popen[bytes] | None:
    """py-spy on the worker (and its extra processes); ``worker.p2.svg`` and so on when the run
    has several process counts."""
    if path is None:
        return None
    if several:
        path = path.with_name(f"{path.stem}.p{processes}{path.suffix}")
    spy = Path(sys.executable).parent / "py-spy"
    fmt = "raw" if path.suffix == ".txt" else "flamegraph"
    command = [str(spy), "record", "--pid", str(worker.process.pid), "--rate", "200"]
    command += ["--format", fmt, "--output", str(path), "--nonblocking"]
    if processes > 1:
        command.append("--subprocesses")
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def latency_count(rate: float, args: argparse.Namespace) -> int:
    return max(1, int(rate * args.latency_seconds))


def _mark(ok: bool) -> str:
    return "ok" if ok else "BELOW TARGET"


Row = tuple[str, str, str, str]


def _cores(window: Window) -> list[Row]:
    return [
        (
            "  window: share of the events",
            f"{window.start_share:.0%} to 95%",
            "(from 5%, or all consuming)",
            "",
        ),
        (
            "  machine CPU busy during the window",
            f"{window.machine_busy:.0%} of {psutil.cpu_count()} cores",
            "",
            "",
        ),
        *_roles(window.cores_by_role, "  "),
    ]


def _roles(cores: dict[str, float], indent: str) -> list[Row]:
    rows: list[Row] = [
        (
            f"{indent}cores used: " + ", ".join(cores),
            " / ".join(f"{v:.2f}" for v in cores.values()),
            "",
            "",
        )
    ]
    if cores["rest"] > DISTURBED_CORES:
        rows.append(
            (
                f"{indent}DISTURBED: the rest of the machine",
                f"{cores['rest']:.2f} cores",
                f"<= {DISTURBED_CORES}",
                "rerun",
            )
        )
    return rows


def _floor_rows(base: float, fl: FloorRun) -> list[Row]:
    w = fl.window
    return [
        ("bare aio-pika consumer (ack only)", f"{base:,.0f} msg/s", "ceiling", ""),
        ("floor (bench/floor.py, one process)", f"{w.rate:,.0f} notifications/s", "", ""),
        ("  floor CPU per 1,000 notifications", f"{w.cpu_per_1000:.2f} s", "", ""),
        *_cores(w),
        ("  floor peak RSS", f"{fl.rss_mb:.0f} MB", "", ""),
        (
            "  floor duplicates / missing / rows sent",
            f"{w.duplicates} / {w.missing} / {fl.recorded:,}",
            f"0 / 0 / {fl.total:,}",
            _mark(w.duplicates == 0 and w.missing == 0 and fl.recorded == fl.total),
        ),
    ]


def _run_rows(base: float, fl: FloorRun, run: Run, args: argparse.Namespace) -> list[Row]:
    w = run.window
    cpu_ratio = w.cpu_per_1000 / fl.window.cpu_per_1000
    rss = max(run.rss_mb, default=0.0)
    label = f"{run.processes} worker process" + ("es" if run.processes > 1 else "")
    rows: list[Row] = [
        (f"notifier, {label}", "", "", ""),
        (
            "  sustained",
            f"{w.rate:,.0f} notifications/s",
            ">= 1,000/s",
            _mark(w.rate >= TARGET_RATE),
        ),
        ("    first to last acceptance", f"{w.overall_rate:,.0f} notifications/s", "", ""),
        (
            "  ratio to bare consumer",
            f"{w.rate / base:.2f}",
            ">= 0.33",
            _mark(w.rate / base >= TARGET_RATIO),
        ),
        ("  ratio to the floor's rate", f"{w.rate / fl.window.rate:.2f}", "", ""),
        ("  worker CPU per 1,000 notifications", f"{w.cpu_per_1000:.2f} s", "", ""),
        (
            "  worker CPU per notification / floor's",
            f"{cpu_ratio:.2f}",
            f"<= {TARGET_FLOOR_CPU}",
            _mark(cpu_ratio <= TARGET_FLOOR_CPU),
        ),
        *_cores(w),
        (
            "  worker peak RSS, largest process",
            f"{rss:.0f} MB (" + " / ".join(f"{r:.0f}" for r in run.rss_mb) + ")",
            "< 200 MB a process",
            _mark(rss < TARGET_RSS_MB),
        ),
        (
            "  latency under backlog p50/p95/p99",
            f"{w.p50:,.0f} / {w.p95:,.0f} / {w.p99:,.0f} ms",
            "(queue wait: preloaded)",
            "",
        ),
        (
            "  provider accept -> durable record p50/p99",
            f"{run.record_p50:,.1f} / {run.record_p99:,.1f} ms",
            "(a crash's window)",
            "",
        ),
        (
            "  duplicates / missing",
            f"{w.duplicates} / {w.missing}",
            "0 / 0",
            _mark(w.duplicates == 0 and w.missing == 0),
        ),
    ]
    lat = run.latency
    if lat is not None:
        load = "fixed --rate" if args.rate else f"{lat.rate / w.rate:.0%} of sustained"
        rows += [
            (
                f"  latency at {lat.rate:,.0f}/s ({load})",
                f"p50 {lat.p50:.0f} / p95 {lat.p95:.0f} / p99 {lat.p99:.0f} / max {lat.max:.0f} ms",
                "p99 < 250 ms",
                _mark(lat.p99 < TARGET_P99_MS),
            ),
            (
                "    achieved: published / accepted",
                f"{lat.offered:,.0f} / {lat.accepted:,.0f} per s",
                "",
                "",
            ),
            ("    worker CPU per 1,000 notifications", f"{lat.cpu_per_1000:.2f} s", "", ""),
            *_roles(lat.cores_by_role, "    "),
            ("    missing", str(lat.missing), "0", _mark(lat.missing == 0)),
        ]
    return rows


def report(base: float, fl: FloorRun, runs: list[Run], args: argparse.Namespace) -> None:
    rows = _floor_rows(base, fl)
    for run in runs:
        rows += _run_rows(base, fl, run, args)
    print()
    print(
        f"notifier throughput: {args.events:,} events ({args.sms_share:.0%} SMS), "
        f"{psutil.cpu_count()} cores, PostgreSQL, SMTP + Twilio fakes, outcomes published"
    )
    width = max(len(r[0]) for r in rows)
    for name, figure, target, verdict in rows:
        print(f"  {name:<{width}}  {figure:<40} {target:<24} {verdict}".rstrip())


async def main(args: argparse.Namespace) -> None:
    worker_env = dict(kv.split("=", 1) for kv in args.env)
    args.prefetch = int(worker_env.get("NOTIFIER_PREFETCH", 200))
    args.smtp_pool = int(worker_env.get("NOTIFIER_SMTP_POOL_SIZE", 4))
    async with environment(keep=args.keep) as (amqp_url, database_url):
        args.amqp_url = amqp_url
        args.database_url = database_url
        args.sinks = Sinks()
        try:
            messages = bodies(0, args.events, args.sms_share)
            print(f"baseline: bare consumer on {len(messages):,} messages ...", flush=True)
            base = await baseline(amqp_url, messages, args.prefetch)
            print(f"floor: the same {len(messages):,} messages, bench/floor.py", flush=True)
            fl = await floor(amqp_url, messages, args)
            runs = []
            first = args.events  # each phase numbers its events on, so the sinks tell them apart
            for processes in args.processes:
                runs.append(await _worker_run(amqp_url, worker_env, processes, first, args))
                first += args.events
                if runs[-1].latency is not None:
                    first += latency_count(runs[-1].latency.rate, args)
            report(base, fl, runs, args)
        finally:
            args.sinks.close()


async def _worker_run(
    amqp_url: str,
    worker_env: dict[str, str],
    processes: int,
    first: int,
    args: argparse.Namespace,
) -> Run:
    """The throughput phase with ``processes`` worker processes, then (unless skipped) the
    latency phase at 80% of the rate it sustained (or at ``--rate``), then the worker stopped."""
    env = {**worker_env, "NOTIFIER_WORKER_PROCESSES": str(processes)}
    messages = bodies(first, args.events, args.sms_share)
    refs = range(first, first + args.events)
    print(
        f"throughput: {len(messages):,} events preloaded, then the worker "
        f"({processes} process{'es' if processes > 1 else ''})",
        flush=True,
    )
    run, worker = await throughput(amqp_url, env, messages, refs, args)
    try:
        if args.latency_seconds > 0:
            rate = args.rate or LATENCY_LOAD * run.window.rate
            print(f"latency: {rate:,.0f} events/s for {args.latency_seconds:.0f} s ...", flush=True)
            run.latency = await latency(amqp_url, worker, args, first + args.events, rate)
        run.rss_mb = worker.peak_rss_by_process()
    finally:
        code = worker.stop()
        if code != 0:
            print(f"worker exited {code}; log: {worker.log_path}", file=sys.stderr)
    return run


def _process_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of counts, e.g. 1,2") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("each count at least 1")
    return counts


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Targets (printed, never gating): >= 1,000 notifications/s on 2 cores with 2 "
        "worker processes; worker CPU per notification <= 1.5 x the floor's; >= 1/3 of the bare "
        "consumer's rate; p99 < 250 ms at 80% of the sustained rate; worker RSS < 200 MB a "
        "process.",
    )
    parser.add_argument(
        "--events", type=int, default=20_000, help="events in each throughput run (and the floor)"
    )
    parser.add_argument(
        "--processes",
        type=_process_counts,
        default=[1, 2],
        metavar="N,N",
        help="one throughput run (and latency run) per worker-process count, as "
        "NOTIFIER_WORKER_PROCESSES (default 1,2)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="latency at this fixed rate, events/s (default: 80%% of the rate each run sustained)",
    )
    parser.add_argument(
        "--latency-seconds",
        type=float,
        default=20.0,
        help="length of each latency run (0: skip)",
    )
    parser.add_argument("--sms-share", type=float, default=0.5, help="share of SMS customers")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after (s)")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra setting for the worker, e.g. NOTIFIER_CONCURRENCY=100 (repeatable; "
        "NOTIFIER_PREFETCH and NOTIFIER_SMTP_POOL_SIZE apply to the floor too)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="py-spy the worker during each throughput run into this file (.svg flame graph, "
        ".txt collapsed stacks; NAME.pN.svg for each process count when there are several)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the vhost and database")
    args = parser.parse_args(argv)
    if args.events < 100:
        parser.error("--events: at least 100")
    if any(kv.startswith("NOTIFIER_WORKER_PROCESSES=") for kv in args.env):
        parser.error("--env NOTIFIER_WORKER_PROCESSES: use --processes")
    if args.rate is not None and args.rate <= 0:
        parser.error("--rate: must be positive")
    return args


if __name__ == "__main__":
    arguments = parse_args()
    with tempfile.TemporaryDirectory(prefix="notifier-bench-") as workdir:
        arguments.workdir = Path(os.environ.get("BENCH_WORKDIR", workdir))
        arguments.workdir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(main(arguments))
