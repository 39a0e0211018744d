"""End to end through GOV.UK Notify: the real ``notifier run`` process sending email, texts and
letters to a local fake of Notify's API, Notify's receipts (and, for letters, the poll) moving
each notification on, with an outcome published; a forged receipt changes nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from notifier.model import Status
from tests.events import make_event
from tests.fakes.notify import (
    API_KEY,
    CALLBACK_TOKEN,
    EMAIL_TEMPLATE,
    SECRET,
    SMS_TEMPLATE,
    FakeNotify,
)
from tests.service import ServiceProcess, drain, publish_raw
from tests.test_sms_end_to_end import start, wait_for, wait_for_status

MOBILE = "07723 456789"


@pytest.fixture
async def fake() -> AsyncIterator[FakeNotify]:
    async with FakeNotify() as fake:
        yield fake


@pytest.fixture
def service(tmp_path: Path, amqp_url: str, fake: FakeNotify) -> Iterator[ServiceProcess]:
    proc = ServiceProcess(
        tmp_path,
        amqp_url,
        NOTIFIER_EMAIL_PROVIDER="notify",
        NOTIFIER_SMS_PROVIDER="notify",
        NOTIFIER_LETTER_PROVIDER="notify",
        NOTIFIER_NOTIFY_API_KEYS=json.dumps({"sdc": API_KEY, "wdc": API_KEY}),
        NOTIFIER_NOTIFY_EMAIL_TEMPLATE_IDS=json.dumps(
            {"sdc": EMAIL_TEMPLATE, "wdc": EMAIL_TEMPLATE}
        ),
        NOTIFIER_NOTIFY_SMS_TEMPLATE_IDS=json.dumps({"sdc": SMS_TEMPLATE, "wdc": SMS_TEMPLATE}),
        NOTIFIER_NOTIFY_CALLBACK_TOKENS=json.dumps({"sdc": CALLBACK_TOKEN}),
        NOTIFIER_NOTIFY_BASE_URL=fake.base_url,
        NOTIFIER_NOTIFY_POLL_INTERVAL="1s",
    )
    yield proc
    proc.stop()
    print(proc.logs())  # pytest shows it only when the test failed


def event(**recipient: object) -> dict[str, object]:
    return make_event(
        recipient={"name": "Alex Smith", **recipient},
        personalisation={"application_address": "10 High Street", "decision_due": "2027-01-24"},
        urgent=True,
    )


async def test_each_channel_is_delivered_through_notify(
    service: ServiceProcess, fake: FakeNotify, amqp_url: str
) -> None:
    """Email and text reach the fake and Notify's receipts make them delivered; the letter goes
    as a PDF and the poll makes it posted; each change is an outcome event; the key is in no
    log line."""
    by_email = event(email="notify.e2e@example.org")
    by_sms = event(mobile=MOBILE)
    by_post = event(address=["Flat 2", "10 High Street", "Stratford-upon-Avon", "CV37 6AA"])
    await start(service, amqp_url)
    await publish_raw(amqp_url, [by_email, by_sms, by_post])
    await wait_for(lambda: len(fake.sent) == 3, 15, "three notifications at Notify")
    url = f"http://127.0.0.1:{service.port}/webhooks/notify/sdc/status"
    for sent_event, channel in ((by_email, "email"), (by_sms, "sms")):
        row = await wait_for_status(service, sent_event, channel, Status.SENDING)
        sent = fake.by_reference(row.id)
        assert (await fake.send_receipt(url, sent.id, "delivered")).status_code == 204
        await wait_for_status(service, sent_event, channel, Status.DELIVERED)
    letter = await wait_for_status(service, by_post, "letter", Status.SENDING)
    fake.set_status(fake.by_reference(letter.id).id, "received")
    await wait_for_status(service, by_post, "letter", Status.POSTED)
    outcomes = await drain(amqp_url, "test.outcomes", expect=6)
    keys = sorted(message.routing_key for message in outcomes)
    print("outcomes:", keys)
    assert keys.count("notification.delivered") == 2 and "notification.posted" in keys
    assert SECRET not in service.logs() and API_KEY not in service.logs()
    assert not [m for m in outcomes if SECRET.encode() in m.body or API_KEY.encode() in m.body]


async def test_a_forged_receipt_is_refused_and_changes_nothing(
    service: ServiceProcess, fake: FakeNotify, amqp_url: str
) -> None:
    """A receipt with the wrong bearer token gets 403 and leaves the notification sending."""
    by_sms = event(mobile=MOBILE)
    await start(service, amqp_url)
    await publish_raw(amqp_url, [by_sms])
    row = await wait_for_status(service, by_sms, "sms", Status.SENDING)
    sent = fake.by_reference(row.id)
    url = f"http://127.0.0.1:{service.port}/webhooks/notify/sdc/status"
    forged = await fake.send_receipt(url, sent.id, "permanent-failure", token="x" * 32)
    other_council = await fake.send_receipt(
        url.replace("/sdc/", "/wdc/"), sent.id, "permanent-failure"
    )
    assert (forged.status_code, other_council.status_code) == (403, 403)
    again = await wait_for_status(service, by_sms, "sms", Status.SENDING)
    assert again.status is Status.SENDING
