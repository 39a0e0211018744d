"""The Grafana dashboard: its structure, and every panel's query answered by a real Prometheus
scraping a running ``notifier run`` under load (Grafana itself cannot be installed here)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
import yaml
from twilio.request_validator import RequestValidator

from notifier.channels.twilio import STATUS_CALLBACK_PATH
from notifier.model import Channel
from notifier.preferences.model import Preferences
from notifier.preferences.store import PreferenceStore
from notifier.store import migrate
from notifier.store.database import create_engine
from tests.events import make_event
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.service import ServiceProcess, free_port

GRAFANA = Path(__file__).parents[2] / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "notifier.json"
RULES = Path(__file__).parents[2] / "deploy" / "prometheus-rules.yml"
DATASOURCE_UID = "notifier-prometheus"
# What the template variables and Grafana's own interval stand for when a query is run by hand.
SUBSTITUTIONS = {"$__rate_interval": "30s", "$council": ".*", "$channel": ".*"}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def queries() -> list[tuple[str, str]]:
    """(panel title and refId, query with the variables filled in) for every target."""
    found = []
    for panel in dashboard()["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for variable, value in SUBSTITUTIONS.items():
                expr = expr.replace(variable, value)
            found.append((f"{panel['title']} [{target['refId']}]", expr))
    return found


def test_dashboard_structure() -> None:
    """A schema version Grafana 10 and later read, unique panel ids, every panel with the
    provisioned datasource and at least one target, non-overlapping positions on the 24-column
    grid, and the council and channel variables used by the panels that have those labels."""
    board = dashboard()
    assert board["schemaVersion"] >= 36
    assert board["uid"] and board["title"]
    panels = board["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"] and target["refId"]
            assert target["datasource"]["uid"] == DATASOURCE_UID
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24
        mine = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert set(variables) == {"council", "channel"}
    for v in variables.values():
        assert v["datasource"]["uid"] == DATASOURCE_UID
        assert v["includeAll"] and v["allValue"] == ".*"
    exprs = " ".join(e for _, e in queries_raw())
    assert 'council=~"$council"' in exprs and 'channel=~"$channel"' in exprs


def queries_raw() -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in dashboard()["panels"] for t in p["targets"]]


def test_provisioning_points_at_the_dashboard_and_the_datasource() -> None:
    """The datasource provisioning gives the uid the panels use; the dashboard provider loads
    the folder the compose file mounts the dashboards into."""
    datasources = yaml.safe_load((GRAFANA / "provisioning/datasources/notifier.yaml").read_text())
    [source] = datasources["datasources"]
    assert (source["uid"], source["type"]) == (DATASOURCE_UID, "prometheus")
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/notifier.yaml").read_text())
    [provider] = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/notifier"


# --- the live run -------------------------------------------------------------------------

SMS_CUSTOMERS = 60
LETTER_CUSTOMERS = 20
EMAIL_EVENTS = 200
ADDRESS = ("Flat 2", "10 High Street", "Stratford-upon-Avon", "CV37 6AA")


class Prometheus:
    """Debian's prometheus on a free loopback port, scraping the service every second."""

    def __init__(self, tmp: Path, target_port: int) -> None:
        self.port = free_port()
        self.dir = tmp / "prometheus"
        self.dir.mkdir()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [
                {
                    "job_name": "notifier",
                    "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}],
                }
            ],
        }
        (self.dir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = (self.dir / "log").open("wb")
        self.process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={self.dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    async def ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                assert self.process.poll() is None, self.logs()
                try:
                    if (await client.get(f"{self.url}/-/ready")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError("prometheus not ready:\n" + self.logs())

    async def query(self, expr: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{self.url}/api/v1/query", params={"query": expr})
        body = response.json()
        assert body["status"] == "success", (expr, body)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    async def scrapes(self) -> float:
        """Samples of ``up`` for the service so far: one per scrape."""
        result = await self.query('count_over_time(up{job="notifier"}[10m])')
        return float(result[0]["value"][1]) if result else 0.0

    def logs(self) -> str:
        return (self.dir / "log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    async with fake:
        yield fake


@pytest.fixture
def service(tmp_path: Path, amqp_url: str, twilio: FakeTwilio) -> Iterator[ServiceProcess]:
    """``notifier run`` with Twilio (the fake) and the print hand-over to a drop folder."""
    proc = ServiceProcess(
        tmp_path,
        amqp_url,
        NOTIFIER_SMS_PROVIDER="twilio",
        NOTIFIER_TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        NOTIFIER_TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        NOTIFIER_TWILIO_BASE_URL=twilio.base_url,
        NOTIFIER_SMS_ALLOW_FICTION_RANGE="true",
        NOTIFIER_LETTER_PROVIDER="folder",
        NOTIFIER_SPOOL_DIR=str(tmp_path / "spool"),
        NOTIFIER_PRINT_DIR=str(tmp_path / "print"),
    )
    proc.env["NOTIFIER_PUBLIC_URL"] = f"http://127.0.0.1:{proc.port}"
    yield proc
    proc.stop()
    print(proc.logs()[-5000:])


@pytest.fixture
def prometheus(tmp_path: Path, service: ServiceProcess) -> Iterator[Prometheus]:
    running = Prometheus(tmp_path, service.port)
    yield running
    running.stop()


def mobile(i: int) -> str:
    return f"+4477009{i:05d}"


async def store_customers(service: ServiceProcess) -> None:
    """Text-first and letter-only customers, stored before the service starts."""
    engine = create_engine(service.database_url)
    try:
        await migrate.upgrade(engine)
        store = PreferenceStore(engine)
        for i in range(SMS_CUSTOMERS):
            await store.put(
                Preferences(
                    council="sdc" if i % 2 else "wdc",
                    customer_id=f"SMS-{i}",
                    mobile=mobile(i),
                    email=f"sms-{i}@example.org",
                    channel_order=(Channel.SMS, Channel.EMAIL),
                    quiet_hours=None,
                ),
                actor="test",
            )
        for i in range(LETTER_CUSTOMERS):
            await store.put(
                Preferences(
                    council="sdc",
                    customer_id=f"LETTER-{i}",
                    name="Alex Smith",
                    address=ADDRESS,
                    channel_order=(Channel.LETTER,),
                    quiet_hours=None,
                ),
                actor="test",
            )
    finally:
        await engine.dispose()


def events() -> list[dict[str, Any] | bytes]:
    """Email events for both councils, one per stored text and letter customer, and one that
    is not JSON at all (dead-lettered as invalid)."""
    made: list[dict[str, Any] | bytes] = []
    for i in range(EMAIL_EVENTS):
        council = "sdc" if i % 2 else "wdc"
        made.append(
            make_event(
                council=council,
                source=f"/councils/{council}/planning",
                recipient={"customer_id": f"E-{i}", "email": f"e{i}@example.org"},
            )
        )
    for i in range(SMS_CUSTOMERS):
        council = "sdc" if i % 2 else "wdc"
        made.append(
            make_event(
                council=council,
                source=f"/councils/{council}/planning",
                recipient={"customer_id": f"SMS-{i}"},
            )
        )
    made.extend(
        make_event(recipient={"customer_id": f"LETTER-{i}"}) for i in range(LETTER_CUSTOMERS)
    )
    made.append(b"{not json")
    return made


async def publish(url: str, batch: list[dict[str, Any] | bytes]) -> None:
    """Publish with the AMQP timestamp set, as our publisher does."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange("notifier.events", "topic", durable=True)
        for event in batch:
            raw = event if isinstance(event, bytes) else json.dumps(event).encode()
            key = event["type"] if isinstance(event, dict) else "x.y.z"
            await exchange.publish(
                aio_pika.Message(
                    raw,
                    content_type="application/cloudevents+json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    timestamp=datetime.now(UTC),
                ),
                routing_key=key,
            )


async def status_callback(service: ServiceProcess, sid: str, status: str) -> int:
    """A signed Twilio status callback to the service's own port."""
    url = f"http://127.0.0.1:{service.port}{STATUS_CALLBACK_PATH}"
    params = {"AccountSid": ACCOUNT_SID, "MessageSid": sid, "MessageStatus": status, "To": "x"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    async with httpx.AsyncClient() as client:
        response = await client.post(url, data=params, headers={"X-Twilio-Signature": signature})
    return response.status_code


@pytest.mark.faults
async def test_every_panel_returns_data_from_a_real_prometheus(
    service: ServiceProcess, prometheus: Prometheus, twilio: FakeTwilio, amqp_url: str
) -> None:
    """A few hundred events across the three channels, with a permanent failure, a throttled
    text (a retry), a dead letter, a Twilio callback and a letter dispatch: after two more
    scrapes every panel's query has at least one series."""
    await store_customers(service)
    twilio.fail_for(mobile(0), status=400, code=21211)  # permanent: falls back to email
    twilio.fail_next(1, status=429, code=20429)  # throttled: a retry
    service.start()
    await service.wait_ready()
    await prometheus.ready()
    deadline = time.monotonic() + 20
    while '"service.started"' not in service.logs():
        assert time.monotonic() < deadline, service.logs()
        await asyncio.sleep(0.05)
    batch = events()
    await publish(amqp_url, batch)
    await service.wait_processed(len(batch), timeout=120)
    [sid, *_] = twilio.messages
    assert await status_callback(service, sid, "delivered") == 204
    dispatch = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "notifier",
        "letters",
        "dispatch",
        env=service.env,
        cwd=service.tmp,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(dispatch.communicate(), 120)
    assert dispatch.returncode == 0, err.decode()
    dispatched = out.decode().strip()
    assert dispatched.startswith("dispatched"), dispatched
    # The letters' gauges are a database count every 15 s: wait for one after the dispatch.
    handed_over = f'max(notifier_letters{{state="handed-over"}}) == {LETTER_CUSTOMERS}'
    deadline = time.monotonic() + 40
    while not await prometheus.query(handed_over):
        assert time.monotonic() < deadline, "letters gauge never showed the dispatch"
        await asyncio.sleep(0.5)
    settled = await prometheus.scrapes()
    deadline = time.monotonic() + 30
    while await prometheus.scrapes() < settled + 2:
        assert time.monotonic() < deadline, prometheus.logs()
        await asyncio.sleep(0.5)
    empty = [title for title, expr in queries() if not await prometheus.query(expr)]
    summary = {
        "events": len(batch),
        "texts": len(twilio.requests),
        "letter dispatch": dispatched,
        "panels without data": empty,
    }
    print(json.dumps(summary, indent=2))
    assert empty == [], summary
    # And the figures are the ones this run made.
    expected = {
        'sum(notifier_webhook_receipts_total{provider="twilio", result="applied"})': 1,
        'sum(notifier_retries_total{channel="sms", reason="twilio-20429"})': 1,
        "sum(notifier_dead_letters_total)": 1,
        'sum(notifier_notifications_total{channel="sms", status="permanent-failure"})': 1,
        'sum(notifier_notifications_total{channel="email", status="sent"})': EMAIL_EVENTS + 1,
        'sum(notifier_notifications_total{channel="sms", status="delivered"})': 1,
        # The letters' own status changes were counted by the dispatch command's process, which
        # nothing scrapes; the handed-over gauge above is what shows them.
        "count(count by (council) (notifier_notifications_total))": 2,
    }
    got = {}
    for expr in expected:
        samples = await prometheus.query(expr)
        got[expr] = float(samples[0]["value"][1]) if samples else None
    assert got == expected


def test_every_query_names_only_metrics_the_service_or_prometheus_defines() -> None:
    """Each panel's metric names are ones notifier exports (or Prometheus's own ``up``), so a
    renamed metric cannot leave a panel silently empty."""
    from notifier.metrics import REGISTRY

    exported = {m.name for m in REGISTRY.collect()}
    for title, expr in queries_raw():
        for name in re.findall(r"\b(notifier_[a-z_]+)", expr):
            base = re.sub(r"(_total|_bucket|_count|_sum)$", "", name)
            assert base in exported or name in exported, f"{title}: {name}"
