"""The event contract: parsing, validation and the documents council systems rely on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from notifier import events
from notifier.errors import InvalidEvent
from tests.events import body, make_event

DOCS = Path(__file__).parent.parent / "docs"


def test_docs_schema_is_the_schema_the_worker_uses() -> None:
    """docs/case-event.schema.json is exactly the schema the worker validates with."""
    assert json.loads((DOCS / "case-event.schema.json").read_text()) == events.schema()


def test_docs_sample_event_is_valid() -> None:
    """The sample a council system copies from docs/ passes validation."""
    event = events.parse((DOCS / "sample-event.json").read_bytes(), "application/json")
    assert event.type == "planning.application.received" and event.council == "sdc"


def test_parse_reads_every_field() -> None:
    """A valid event becomes a CaseEvent with its recipient, personalisation and flags."""
    event = events.parse(
        body(make_event(urgent=True, postage="first")), "application/cloudevents+json"
    )
    assert event.recipient.customer_id == "SDC-000123"
    assert event.recipient.address == (
        "Flat 2",
        "10 High Street",
        "Stratford-upon-Avon",
        "CV37 6AA",
    )
    assert event.urgent and event.postage == "first" and event.subject == "24/01234/FUL"
    assert event.time is not None and event.time.tzinfo is not None


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"specversion": "0.3"}, "specversion"),
        ({"type": "Planning Received"}, "type"),
        ({"recipient": {"name": "Alex Smith"}}, "data/recipient"),
        ({"council": "SDC!"}, "data/council"),
        ({"personalisation": {"nested": {"a": 1}}}, "data/personalisation/nested"),
        ({"postage": "pigeon"}, "data/postage"),
    ],
)
def test_schema_violations_name_the_field_not_the_value(
    change: dict[str, object], where: str
) -> None:
    """A schema violation is reason 'schema' with the failing field's path as detail."""
    with pytest.raises(InvalidEvent) as caught:
        events.parse(body(make_event(**change)), "application/json")
    assert caught.value.reason == "schema"
    assert caught.value.detail.startswith(where)


def test_schema_detail_never_echoes_personal_data() -> None:
    """A bad mobile number is reported by its path, never by its value."""
    event = make_event(recipient={"mobile": "0", "email": "x"})
    with pytest.raises(InvalidEvent) as caught:
        events.parse(body(event), "application/json")
    assert "0" not in caught.value.detail.replace("data/recipient", "")


def test_bad_json_and_bad_utf8_are_invalid_json() -> None:
    """Bodies that are not JSON, or not UTF-8, are reason 'invalid-json'."""
    for raw in (b"{", b"\xff\xfe{}", b""):
        with pytest.raises(InvalidEvent) as caught:
            events.parse(raw, "application/json")
        assert caught.value.reason == "invalid-json"


def test_unsupported_content_type_is_rejected() -> None:
    """Only JSON content types (or none) are accepted."""
    with pytest.raises(InvalidEvent) as caught:
        events.parse(body(make_event()), "application/xml")
    assert caught.value.reason == "content-type"
