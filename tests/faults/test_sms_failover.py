"""Twilio down for everything, through the running service: texts move to Notify, each is sent
exactly once across the two providers, and they come back to Twilio once it recovers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.events import make_event
from tests.fakes.notify import API_KEY, SMS_TEMPLATE, FakeNotify
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.service import ServiceProcess, publish_raw
from tests.test_sms_end_to_end import TEMPLATE, start, wait_for

pytestmark = pytest.mark.faults

COOL_OFF = 4.0
RAMP = 3.0


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeTwilio, FakeNotify]]:
    async with FakeTwilio() as twilio, FakeNotify() as notify:
        yield twilio, notify


@pytest.fixture
def service(
    tmp_path: Path, amqp_url: str, fakes: tuple[FakeTwilio, FakeNotify]
) -> Iterator[ServiceProcess]:
    twilio, notify = fakes
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "planning.application.received.md").write_text(TEMPLATE, "utf-8")
    proc = ServiceProcess(
        tmp_path,
        amqp_url,
        NOTIFIER_SMS_PROVIDER="twilio",
        NOTIFIER_SMS_SECOND_PROVIDER="notify",
        NOTIFIER_TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        NOTIFIER_TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        NOTIFIER_TWILIO_BASE_URL=twilio.base_url,
        NOTIFIER_TWILIO_SEGMENTS_PER_SECOND="1000",
        NOTIFIER_NOTIFY_API_KEYS=json.dumps({"sdc": API_KEY}),
        NOTIFIER_NOTIFY_SMS_TEMPLATE_IDS=json.dumps({"sdc": SMS_TEMPLATE}),
        NOTIFIER_NOTIFY_BASE_URL=notify.base_url,
        NOTIFIER_SMS_FAILOVER_WINDOW="30s",
        NOTIFIER_SMS_FAILOVER_MIN_REQUESTS="3",
        NOTIFIER_SMS_FAILOVER_COOL_OFF=f"{int(COOL_OFF)}s",
        NOTIFIER_SMS_FAILOVER_RAMP=f"{int(RAMP)}s",
        NOTIFIER_SMS_ALLOW_FICTION_RANGE="true",
        NOTIFIER_TEMPLATE_DIR=str(templates),
    )
    yield proc
    proc.stop()
    print(proc.logs()[-4000:])  # pytest shows it only when the test failed


class Run:
    """The events sent, and where each text landed."""

    def __init__(self, service: ServiceProcess, twilio: FakeTwilio, notify: FakeNotify) -> None:
        self.service, self.twilio, self.notify = service, twilio, notify
        self.references: list[str] = []

    def landed(self) -> dict[str, list[str]]:
        """Case reference -> the providers that took a text for it (once each, we hope)."""
        where: dict[str, list[str]] = {ref: [] for ref in self.references}
        for request in self.twilio.messages.values():
            where[_reference(request.form["Body"])].append("twilio")
        for sent in self.notify.sent.values():
            where[_reference(sent.payload["personalisation"]["body"])].append("notify")
        return where

    async def wave(self, count: int) -> dict[str, int]:
        """Publish ``count`` texts and wait until each has landed; new texts per provider."""
        before = len(self.twilio.messages), len(self.notify.sent), len(self.twilio.requests)
        events = []
        for _ in range(count):
            reference = f"24/{len(self.references):05d}/FUL"
            self.references.append(reference)
            events.append(
                make_event(
                    subject=reference,
                    recipient={"mobile": "07723 456789"},
                    personalisation={"application_address": "10 High Street"},
                    urgent=True,
                )
            )
        await publish_raw(self.service.env["NOTIFIER_AMQP_URL"], events)
        total = len(self.references)
        await wait_for(
            lambda: len(self.twilio.messages) + len(self.notify.sent) >= total, 20, "texts landed"
        )
        return {
            "twilio": len(self.twilio.messages) - before[0],
            "notify": len(self.notify.sent) - before[1],
            "twilio_requests": len(self.twilio.requests) - before[2],
        }


def _reference(body: str) -> str:
    return body.rsplit(" ", 1)[1].rstrip(".")


async def test_texts_fail_over_to_notify_and_come_back(
    service: ServiceProcess, fakes: tuple[FakeTwilio, FakeNotify], amqp_url: str
) -> None:
    """Twilio answers 500 for every request: texts go on to Notify at once, the breaker opens
    and Twilio sees no more; when Twilio recovers, a probe after the cool-off and the ramp
    bring texts back to it. Every text lands exactly once across the two fakes."""
    twilio, notify = fakes
    run = Run(service, twilio, notify)
    await start(service, amqp_url)
    phases: dict[str, dict[str, int]] = {"healthy": await run.wave(5)}
    twilio.fail_next(100_000, status=500)
    opened = time.monotonic()
    phases["outage"] = await run.wave(10)
    phases["open"] = await run.wave(10)
    assert time.monotonic() - opened < COOL_OFF, "the waves outlasted the cool-off"
    twilio.recover()
    await asyncio.sleep(COOL_OFF)
    phases["probe"] = await run.wave(1)
    await asyncio.sleep(RAMP + 0.5)
    phases["back"] = await run.wave(10)
    where = run.landed()
    for reference, providers in where.items():
        print(reference, "->", ",".join(providers) or "nowhere")
    for name, counts in phases.items():
        print(f"{name:>8}: {counts}")
    print("totals: twilio", len(twilio.messages), "notify", len(notify.sent), "of", len(where))
    assert all(len(providers) == 1 for providers in where.values())
    assert phases["healthy"] == {"twilio": 5, "notify": 0, "twilio_requests": 5}
    assert phases["outage"]["notify"] == 10 and phases["outage"]["twilio"] == 0
    assert phases["open"] == {"twilio": 0, "notify": 10, "twilio_requests": 0}
    assert phases["probe"]["twilio"] == 1
    assert phases["back"] == {"twilio": 10, "notify": 0, "twilio_requests": 10}
    assert '"provider.state"' in service.logs()
    assert await service.metric('notifier_provider_state{channel="sms",provider="twilio"}') == 0
