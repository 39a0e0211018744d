"""The customers API in-process on SQLite and PostgreSQL: keys, council isolation, validation,
erasure and the notification history."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.model import Status
from notifier.preferences.store import PreferenceStore
from notifier.settings import load_settings
from notifier.store.notifications import NewNotification, NotificationStore
from notifier.store.scheduled import ScheduledEvent, ScheduledStore
from notifier.store.tables import notifications, scheduled_events
from notifier.web.auth import KeyStore
from notifier.web.tokens import Links
from tests.fakes.channels import RecordingSink
from tests.web.conftest import build_app, in_process

URL = "/api/v1/councils/sdc/customers/SDC-000123"
NOON = datetime(2027, 3, 1, 12, tzinfo=UTC)
ALEX = {
    "name": "Alex Smith",
    "email": "alex@example.org",
    "email_verified": True,
    "mobile": "07700 900123",
    "address": ["Flat 2", "10 High Street", "Stratford-upon-Avon", "CV37 6AA"],
    "channel_order": ["sms", "email", "letter"],
    "topic_opt_outs": ["complaints"],
    "quiet_hours": {"start": "22:00", "end": "07:00"},
    "accessible_format": "large-print",
}


PREFERENCES_DOC = (Path(__file__).parents[2] / "docs" / "preferences.md").read_text()


def documented_put() -> tuple[str, dict[str, object]]:
    """The path and body of the PUT example in docs/preferences.md."""
    found = re.search(r"```json\nPUT (\S+)\n(.*?)```", PREFERENCES_DOC, flags=re.DOTALL)
    assert found is not None
    return found.group(1), json.loads(found.group(2))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_put_creates_then_replaces_and_get_round_trips(
    client: httpx.AsyncClient, sdc_key: str
) -> None:
    """PUT answers 201 then 200; GET returns what was stored, the mobile as E.164."""
    created = await client.put(URL, json=ALEX, headers=bearer(sdc_key))
    assert created.status_code == 201 and created.headers["location"] == URL
    replaced = await client.put(URL, json={**ALEX, "name": "Alex Jones"}, headers=bearer(sdc_key))
    assert replaced.status_code == 200
    got = await client.get(URL, headers=bearer(sdc_key))
    assert got.status_code == 200
    body = got.json()
    assert body == replaced.json()
    assert body["mobile"] == "+447700900123" and body["name"] == "Alex Jones"
    assert body["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert body["email_verified"] is True and body["mobile_verified"] is False
    assert (body["council"], body["customer_id"]) == ("sdc", "SDC-000123")


async def test_defaults_fill_what_a_new_customer_leaves_out(
    client: httpx.AsyncClient, sdc_key: str
) -> None:
    """A customer with only an email gets the default order and 21:00-08:00 quiet hours."""
    body = (await client.put(URL, json={"email": "a@example.org"}, headers=bearer(sdc_key))).json()
    assert body["channel_order"] == ["email", "sms", "letter"]
    assert body["quiet_hours"] == {"start": "21:00", "end": "08:00"}
    none = await client.put(URL, json={"quiet_hours": None}, headers=bearer(sdc_key))
    assert none.json()["quiet_hours"] is None


async def test_requests_without_a_live_key_are_401(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """No key, an unknown key and a revoked key all get 401 with a Bearer challenge."""
    record, key = await KeyStore(engine).create("sdc")
    assert (await client.get(URL)).status_code == 401
    assert (await client.get(URL, headers=bearer("ntf_made-up"))).status_code == 401
    await KeyStore(engine).revoke(record.id)
    refused = await client.get(URL, headers=bearer(key))
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"


async def test_another_councils_key_gets_404_as_if_the_customer_did_not_exist(
    client: httpx.AsyncClient, sdc_key: str, wdc_key: str
) -> None:
    """A WDC key reads, lists, replaces and erases nothing of SDC's, answered exactly as for a
    customer who does not exist."""
    await client.put(URL, json=ALEX, headers=bearer(sdc_key))
    absent = await client.get("/api/v1/councils/wdc/customers/NOBODY", headers=bearer(wdc_key))
    for method, path in (
        ("GET", URL),
        ("GET", f"{URL}/notifications"),
        ("DELETE", URL),
        ("PUT", URL),
    ):
        answer = await client.request(
            method,
            path,
            headers=bearer(wdc_key),
            json={"email": "x@example.org"} if method == "PUT" else None,
        )
        assert (answer.status_code, answer.json()) == (404, absent.json()), (method, path)
    still = await client.get(URL, headers=bearer(sdc_key))
    assert still.json()["email"] == "alex@example.org"


async def test_bad_values_get_422_naming_each_field_never_echoing_it(
    client: httpx.AsyncClient, sdc_key: str
) -> None:
    """Every broken field is named with its rule in one 422; no value comes back."""
    bad = {
        **ALEX,
        "email": "alex@@example",
        "mobile": "01789 267575",
        "topic_opt_outs": ["parking"],
        "channel_order": ["fax"],
    }
    answer = await client.put(URL, json=bad, headers=bearer(sdc_key))
    assert answer.status_code == 422
    problems = {(p["field"], p["type"]) for p in answer.json()["detail"]}
    assert problems == {
        ("email", "invalid-email"),
        ("mobile", "not-a-uk-mobile"),
        ("topic_opt_outs", "unknown-topic"),
        ("channel_order", "unknown-channel"),
    }
    for value in ("alex@@example", "01789 267575", "parking", "fax"):
        assert value not in answer.text
    assert (await client.get(URL, headers=bearer(sdc_key))).status_code == 404


async def test_malformed_requests_are_422_never_500(
    client: httpx.AsyncClient, sdc_key: str
) -> None:
    """Broken JSON, wrong types, unknown fields and a bad customer id are each a 422."""
    as_json = {**bearer(sdc_key), "content-type": "application/json"}
    cases = [
        (URL, b"{not json", "body"),
        (URL, b'{"email_verified": "perhaps"}', "email_verified"),
        (URL, b'{"mobile_number": "07700900123"}', "mobile_number"),
        (URL, b'{"address": "10 High Street"}', "address"),
        ("/api/v1/councils/sdc/customers/bad%20id", b"{}", "customer_id"),
    ]
    for url, content, field in cases:
        answer = await client.put(url, headers=as_json, content=content)
        assert answer.status_code == 422, field
        fields = [p["field"] for p in answer.json()["detail"]]
        assert any(f.startswith(field) for f in fields), (field, fields)
        assert all("input" not in problem for problem in answer.json()["detail"])
        assert "perhaps" not in answer.text and "07700900123" not in answer.text


async def test_body_that_is_not_utf8_is_422_json_invalid(
    client: httpx.AsyncClient, sdc_key: str
) -> None:
    """Bytes that are not UTF-8 get the documented 422 json_invalid, not FastAPI's bare 400."""
    as_json = {**bearer(sdc_key), "content-type": "application/json"}
    answer = await client.put(URL, headers=as_json, content=b'{"name": "Alex \xff Smith"}')
    assert answer.status_code == 422
    [problem] = answer.json()["detail"]
    assert (problem["field"], problem["type"], problem["loc"][0]) == (
        "body",
        "json_invalid",
        "body",
    )
    assert "Alex" not in answer.text
    assert (await client.get(URL, headers=bearer(sdc_key))).status_code == 404


async def test_unknown_fields_are_reported_with_every_other_broken_field(
    client: httpx.AsyncClient, sdc_key: str
) -> None:
    """An unknown field, a wrong type, broken rules and a bad customer id come back in one 422."""
    bad = {
        "mobile_number": "07700900123",
        "email": "alex@@example",
        "email_verified": "perhaps",
        "topic_opt_outs": ["parking"],
        "quiet_hours": {"start": "21:00"},
    }
    url = "/api/v1/councils/sdc/customers/bad%20id"
    answer = await client.put(url, json=bad, headers=bearer(sdc_key))
    assert answer.status_code == 422
    problems = {(p["field"], p["type"]) for p in answer.json()["detail"]}
    assert problems == {
        ("customer_id", "invalid-customer-id"),
        ("mobile_number", "extra_forbidden"),
        ("email_verified", "bool_parsing"),
        ("quiet_hours.end", "missing"),
        ("email", "invalid-email"),
        ("topic_opt_outs", "unknown-topic"),
    }
    for value in ("07700900123", "alex@@example", "perhaps", "parking"):
        assert value not in answer.text


async def test_put_keeps_the_residents_own_choices_it_leaves_out(
    client: httpx.AsyncClient, sdc_key: str, engine: AsyncEngine
) -> None:
    """A sync that sends only contact details does not undo the resident's opt-outs."""
    await client.put(URL, json={"email": "a@example.org"}, headers=bearer(sdc_key))
    await PreferenceStore(engine).update(
        "sdc",
        "SDC-000123",
        lambda p: dataclasses.replace(p, topic_opt_outs=frozenset({"waste"})),
        actor="resident",
    )
    body = (await client.put(URL, json={"email": "b@example.org"}, headers=bearer(sdc_key))).json()
    assert body["topic_opt_outs"] == ["waste"] and body["email"] == "b@example.org"


async def test_erase_keeps_history_without_contact_details(
    client: httpx.AsyncClient, sdc_key: str, engine: AsyncEngine
) -> None:
    """DELETE erases the customer and the contact details on their notifications; the
    notifications and their status history can still be listed."""
    await client.put(URL, json=ALEX, headers=bearer(sdc_key))
    records = NotificationStore(engine)
    row = await records.create(
        NewNotification(
            event_source="/councils/sdc/waste",
            event_id="e-1",
            event_type="waste.bulky-collection.booked",
            council="sdc",
            channel="sms",
            customer_id="SDC-000123",
            case_reference="BC-1",
            recipient="+447700900123",
        )
    )
    assert row is not None
    await records.record(row.id, Status.SENT, source="sms", provider_ref="SM1")
    assert (await client.delete(URL, headers=bearer(sdc_key))).status_code == 204
    assert (await client.get(URL, headers=bearer(sdc_key))).status_code == 404
    listed = await client.get(f"{URL}/notifications", headers=bearer(sdc_key))
    assert listed.status_code == 200
    [item] = listed.json()["notifications"]
    assert item["status"] == "sent"
    assert [h["status"] for h in item["history"]] == ["created", "sent"]
    async with engine.connect() as conn:
        assert (await conn.execute(select(notifications.c.recipient))).scalar_one() is None
    assert "+447700900123" not in listed.text
    assert (await client.delete(URL, headers=bearer(sdc_key))).status_code == 404


async def test_notification_list_carries_statuses_not_content(
    client: httpx.AsyncClient, sdc_key: str, engine: AsyncEngine
) -> None:
    """Each listed notification has ids, channel, template, status and history; no recipient
    and no message text; a customer with neither record nor history is 404."""
    assert (await client.get(f"{URL}/notifications", headers=bearer(sdc_key))).status_code == 404
    await client.put(URL, json=ALEX, headers=bearer(sdc_key))
    records = NotificationStore(engine)
    for n, channel in enumerate(("email", "sms")):
        await records.create(
            NewNotification(
                event_source="/councils/sdc/planning",
                event_id=f"e-{n}",
                event_type="planning.application.received",
                council="sdc",
                channel=channel,
                customer_id="SDC-000123",
                recipient="alex@example.org",
                template="t",
            )
        )
    listed = (await client.get(f"{URL}/notifications?limit=1", headers=bearer(sdc_key))).json()
    assert len(listed["notifications"]) == 1
    item = listed["notifications"][0]
    assert set(item) == {
        "id",
        "event_source",
        "event_id",
        "event_type",
        "case_reference",
        "channel",
        "template",
        "template_version",
        "status",
        "reason",
        "attempts",
        "created_at",
        "updated_at",
        "history",
    }


async def test_changes_through_the_api_are_audited_to_the_key(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """The audit trail names the API key that made each change."""
    record, key = await KeyStore(engine).create("sdc", "crm")
    await client.put(URL, json=ALEX, headers=bearer(key))
    await client.delete(URL, headers=bearer(key))
    trail = await PreferenceStore(engine).audit_trail("sdc", "SDC-000123")
    assert [(e.actor, e.action) for e in trail] == [
        (f"api-key:{record.id}", "create"),
        (f"api-key:{record.id}", "erase"),
    ]


async def test_openapi_document_describes_the_api(client: httpx.AsyncClient) -> None:
    """/openapi.json lists the customer routes with bearer authentication."""
    document = (await client.get("/openapi.json")).json()
    assert {
        URL.replace("sdc", "{council}").replace("SDC-000123", "{customer_id}"),
        "/api/v1/councils/{council}/customers/{customer_id}/notifications",
    } <= set(document["paths"])
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert not any(p.startswith("/preferences") for p in document["paths"])


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({}, 201),
        ({"sms_provider": "twilio", "twilio_account_sid": "AC" + "0" * 32}, 422),
    ],
    ids=["outbox-default", "twilio"],
)
async def test_documented_put_example_is_accepted_on_the_default_settings(
    engine: AsyncEngine, links: Links, sdc_key: str, overrides: dict[str, str], status: int
) -> None:
    """The PUT in docs/preferences.md (a 07700 900xxx drama number) is stored on the defaults,
    where texts only reach the outbox; with Twilio it is refused unless the range is allowed."""
    path, body = documented_put()
    settings = load_settings(twilio_auth_token="t", **overrides)
    async with in_process(build_app(engine, links, settings)) as client:
        answer = await client.put(path, json=body, headers=bearer(sdc_key))
    assert answer.status_code == status, answer.text
    if status == 422:
        assert [problem["field"] for problem in answer.json()["detail"]] == ["mobile"]


async def test_openapi_document_lists_every_answer_with_its_body(
    client: httpx.AsyncClient, sdc_key: str
) -> None:
    """Each status the customer routes answer is in the document with a schema that resolves;
    the PUT's body is described field by field, unknown fields refused."""
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    put = document["paths"]["/api/v1/councils/{council}/customers/{customer_id}"]["put"]
    body = put["requestBody"]["content"]["application/json"]["schema"]
    assert body["additionalProperties"] is False
    assert {"email", "mobile", "quiet_hours", "channel_order"} <= set(body["properties"])
    garbled = await client.put(
        URL, headers={**bearer(sdc_key), "content-type": "application/json"}, content=b"\xff"
    )
    assert str(garbled.status_code) in put["responses"]
    for path, operations in document["paths"].items():
        if not path.startswith("/api/v1/councils/"):
            continue
        for method, operation in operations.items():
            for status in ("401", "404", "422"):
                answer = operation["responses"][status]
                ref = answer["content"]["application/json"]["schema"]["$ref"]
                assert ref.removeprefix("#/components/schemas/") in schemas, (method, path)
    refs = [
        part.split('"')[0]
        for part in json.dumps(document).split('"$ref": "#/components/schemas/')[1:]
    ]
    assert set(refs) <= set(schemas)


async def test_case_history_lists_what_was_sent_about_a_case_page_by_page(
    client: httpx.AsyncClient, sdc_key: str, wdc_key: str, engine: AsyncEngine
) -> None:
    """GET .../cases/{reference}/notifications: the case's notifications newest first with
    their history, in pages, no contact details; another case and another council's key see
    none of them."""
    records = NotificationStore(engine)
    for n in range(3):
        row = await records.create(
            NewNotification(
                event_source="/councils/sdc/repairs",
                event_id=f"e-{n}",
                event_type="housing.repair-appointment.reminder",
                council="sdc",
                channel="sms",
                case_reference="RP-1",
                recipient="+447700900123",
                template="housing.repair-appointment.reminder",
            )
        )
        assert row is not None
    case = "/api/v1/councils/sdc/cases/RP-1/notifications"
    first = (await client.get(f"{case}?limit=2", headers=bearer(sdc_key))).json()
    assert (first["case_reference"], first["next_offset"], len(first["notifications"])) == (
        "RP-1",
        2,
        2,
    )
    rest = (await client.get(f"{case}?limit=2&offset=2", headers=bearer(sdc_key))).json()
    assert (rest["next_offset"], len(rest["notifications"])) == (None, 1)
    ids = [n["event_id"] for n in first["notifications"] + rest["notifications"]]
    assert sorted(ids) == ["e-0", "e-1", "e-2"]
    assert [h["status"] for h in rest["notifications"][0]["history"]] == ["created"]
    assert "+447700900123" not in json.dumps([first, rest])
    other = await client.get(
        "/api/v1/councils/sdc/cases/RP-2/notifications", headers=bearer(sdc_key)
    )
    assert other.json()["notifications"] == []
    foreign = await client.get(case.replace("sdc", "wdc"), headers=bearer(sdc_key))
    assert foreign.status_code == 404
    assert (await client.get(case, headers=bearer(wdc_key))).status_code == 404


async def test_erase_cancels_what_still_waits_and_forgets_its_kept_event(
    engine: AsyncEngine, links: Links, sdc_key: str
) -> None:
    """An erasure cancels the customer's notification still waiting for its send time (reason
    ``customer-erased``, outcome published) and deletes the event kept for it; one already sent
    keeps its status; another customer's kept event stays."""
    sink = RecordingSink()
    records, scheduled = NotificationStore(engine), ScheduledStore(engine)

    async def waiting(customer_id: str, event_id: str) -> str:
        row = await records.create(
            NewNotification(
                event_source="/councils/sdc/housing",
                event_id=event_id,
                event_type="housing.repair-appointment.reminder",
                council="sdc",
                channel="email",
                customer_id=customer_id,
                case_reference="RP-1",
                recipient="alex@example.org",
            )
        )
        assert row is not None
        await scheduled.keep(
            ScheduledEvent(
                "/councils/sdc/housing", event_id, "sdc", NOON + timedelta(days=2), b"{}", None
            )
        )
        return row.id

    async with in_process(build_app(engine, links, outcomes=sink)) as client:
        await client.put(URL, json=ALEX, headers=bearer(sdc_key))
        pending = await waiting("SDC-000123", "e-later")
        other = await waiting("SDC-000999", "e-other")
        sent = await records.create(
            NewNotification(
                event_source="/councils/sdc/housing",
                event_id="e-sent",
                event_type="housing.repair-appointment.reminder",
                council="sdc",
                channel="sms",
                customer_id="SDC-000123",
                case_reference="RP-1",
            )
        )
        assert sent is not None
        await records.record(sent.id, Status.SENT, source="sms", provider_ref="SM1")
        assert (await client.delete(URL, headers=bearer(sdc_key))).status_code == 204

    cancelled = await records.get(pending)
    assert cancelled is not None
    assert (cancelled.status, cancelled.reason) == (Status.CANCELLED, "customer-erased")
    assert (await records.get(sent.id)).status is Status.SENT  # type: ignore[union-attr]
    assert (await records.get(other)).status is Status.CREATED  # type: ignore[union-attr]
    [(key, outcome)] = sink.published
    assert key == "notification.cancelled"
    assert json.loads(outcome)["data"]["notification_id"] == pending
    async with engine.connect() as conn:
        kept = (await conn.execute(select(scheduled_events.c.event_id))).scalars().all()
    assert kept == ["e-other"]
