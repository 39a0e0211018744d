"""End to end with the real ``notifier run`` process: a resident chooses text messages on their
page, then stops waste messages there; the next waste event is suppressed as they asked, other
events still come by text, and the page and the API show it."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.events import make_event
from tests.service import ServiceProcess, publish_raw
from tests.web.conftest import CATALOGUE

SECRET = "journey-secret-that-is-long-enough-to-sign"
CUSTOMER = "/api/v1/councils/sdc/customers/SDC-000123"


@pytest.fixture
def service(tmp_path: Path, amqp_url: str) -> Iterator[ServiceProcess]:
    proc = ServiceProcess(
        tmp_path, amqp_url, NOTIFIER_SECRET_KEY=SECRET, NOTIFIER_SMS_ALLOW_FICTION_RANGE="true"
    )
    yield proc
    proc.stop()


def event_of(event_type: str) -> dict[str, Any]:
    sample = CATALOGUE.get("sdc", event_type).sample
    # The event carries no contact details: the stored preferences decide everything.
    return make_event(
        type=event_type,
        personalisation=dict(sample.personalisation),
        recipient={"customer_id": "SDC-000123"},
    )


async def files_in(folder: Path, count: int, timeout: float = 10) -> list[Path]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = (
            sorted(p for p in folder.glob("*") if not p.name.startswith("."))
            if folder.exists()
            else []
        )
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} files in {folder}")


async def save(client: httpx.AsyncClient, url: str, **fields: str | list[str]) -> str:
    page = await client.get(url)
    token = re.search(r'name="form-token" value="([^"]+)"', page.text)
    assert token, page.text
    answer = await client.post(url, data={"form-token": token.group(1), **fields})
    assert answer.status_code == 200, answer.text
    return answer.text


async def test_resident_stops_waste_messages_and_the_next_waste_event_is_suppressed(
    service: ServiceProcess, amqp_url: str, notifier_bin: str, tmp_path: Path
) -> None:
    """The page's choices reach the very next notification: texts first, then no waste."""
    create = await asyncio.create_subprocess_exec(
        notifier_bin,
        "keys",
        "create",
        "--council",
        "sdc",
        "--name",
        "crm",
        env=service.env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    async with asyncio.timeout(60):
        printed, _ = await create.communicate()
    assert create.returncode == 0
    key = printed.decode().strip()
    service.start()
    await service.wait_ready()
    base = f"http://127.0.0.1:{service.port}"
    async with httpx.AsyncClient(base_url=base) as client:
        put = await client.put(
            CUSTOMER,
            headers={"Authorization": f"Bearer {key}"},
            json={
                "email": "alex@example.org",
                "mobile": "07700 900123",
                "quiet_hours": None,
                "address": ["Flat 2", "10 High Street", "Stratford-upon-Avon", "CV37 6AA"],
            },
        )
        assert put.status_code == 201, put.text

        # 1. An email arrives (email is the default first channel) with the personal link.
        await publish_raw(amqp_url, [event_of("planning.application.received")])
        [eml] = await files_in(service.outbox / "email", 1)
        message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        link = re.search(r"Change how we contact you: (\S+)", text)
        assert link and link.group(1).startswith(f"{base}/preferences/")
        page = link.group(1).removeprefix(base)

        # 2. On the page the resident chooses text messages first; a waste event is texted.
        saved = await save(client, page, **{"first-channel": "sms"})
        assert "We will contact you first by text message instead of by email." in saved
        await publish_raw(amqp_url, [event_of("waste.missed-collection.reported")])
        [first_text] = await files_in(service.outbox / "sms", 1)
        assert json.loads(first_text.read_bytes())["to"] == "+447700900123"

        # 3. They stop waste messages; the next waste event goes nowhere, planning still texts.
        stop_waste: dict[str, str | list[str]] = {"first-channel": "sms", "stop": ["waste"]}
        saved = await save(client, page, **stop_waste)
        assert (
            "You will no longer get messages about bins, recycling and waste collections." in saved
        )
        await publish_raw(
            amqp_url,
            [
                event_of("waste.missed-collection.resolved"),
                event_of("planning.consultation.started"),
            ],
        )
        await service.wait_processed(4)
        assert len(await files_in(service.outbox / "sms", 2)) == 2
        assert len(list((service.outbox / "email").glob("*.eml"))) == 1

        shown = (await client.get(page)).text
        stopped = shown.split('id="stopped"')[1].split("</dd>")[0]
        assert "Bins, recycling and waste collections" in stopped

        listed = (
            await client.get(
                f"{CUSTOMER}/notifications", headers={"Authorization": f"Bearer {key}"}
            )
        ).json()
        by_type = {n["event_type"]: n for n in listed["notifications"]}
        resolved = by_type["waste.missed-collection.resolved"]
        assert (resolved["status"], resolved["reason"]) == ("suppressed", "opted-out")
        assert by_type["planning.consultation.started"]["channel"] == "sms"
    assert "alex@example.org" not in service.logs() and "900123" not in service.logs()
