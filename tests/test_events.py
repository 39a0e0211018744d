"""The event contract: parsing, validation and the documents council systems rely on."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


# Where the compiled schema and jsonschema could part: pattern ends, lengths at their limits,
# numbers JSON allows but JSON Schema's data model lacks, lone surrogates, other types.
EDGE_STRINGS = [
    "planning.application.received\n",
    "sdc\n",
    "sdc",
    "Sdc",
    "s\u0130c",
    "notifier.notifications.withdraw",
    "first",
    "second\n",
    "1.0",
    "1.0\n",
    "",
    "\ud800",
    "sd\udfffc",
    "a\u2028b",
    "2026-11-29T10:15:00Z",
    "2026-13-45T99:99:99Z",
    "x" * 200,
    "x" * 201,
    "\U0001f600" * 100,
    "\U0001f600" * 101,
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.sampled_from(EDGE_STRINGS)
    | st.text(max_size=12)
    | st.text(alphabet="ab-.", min_size=195, max_size=205)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=5,
)
PATHS = [
    ("specversion",),
    ("id",),
    ("source",),
    ("type",),
    ("time",),
    ("subject",),
    ("datacontenttype",),
    ("data",),
    ("data", "council"),
    ("data", "recipient"),
    ("data", "recipient", "customer_id"),
    ("data", "recipient", "email"),
    ("data", "recipient", "mobile"),
    ("data", "recipient", "address"),
    ("data", "recipient", "name"),
    ("data", "personalisation"),
    ("data", "personalisation", "decision_due"),
    ("data", "urgent"),
    ("data", "postage"),
    ("data", "withdraw"),
    ("data", "withdraw", "event_types"),
    ("data", "send_after"),
]
DELETE = object()


def _mutated(changes: list[tuple[tuple[str, ...], Any]], withdraw: bool) -> bytes:
    document: Any = make_event(type=events.WITHDRAW_TYPE) if withdraw else make_event()
    if withdraw:
        document["data"].pop("recipient")
        document["data"]["withdraw"] = {"event_types": ["planning.application.received"]}
    for path, value in changes:
        target = document
        for key in path[:-1]:
            target = target.get(key) if isinstance(target, dict) else None
        if isinstance(target, dict):
            if value is DELETE:
                target.pop(path[-1], None)
            else:
                target[path[-1]] = value
    return json.dumps(document).encode()


mutated_bodies = st.builds(
    _mutated,
    st.lists(st.tuples(st.sampled_from(PATHS), st.just(DELETE) | json_values), max_size=3),
    st.booleans(),
)


def _outcome(call: Callable[[], events.CaseEvent]) -> str:
    try:
        return repr(call())  # repr: a NaN personalisation value equals itself
    except InvalidEvent as exc:
        return f"InvalidEvent({exc.reason!r}, {exc.detail!r})"


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_bodies)
def test_compiled_schema_gives_exactly_what_jsonschema_gives(raw: bytes) -> None:
    """For any body, parse (the compiled schema first) gives the event or the reason and path
    that jsonschema alone gives; and the compiled schema passes nothing jsonschema refuses."""
    document = json.loads(raw)
    assert _outcome(lambda: events.parse(raw, "application/json")) == _outcome(
        lambda: events.from_document(json.loads(raw))
    )
    if events._conforms(document):
        assert events._validator().is_valid(document)


@pytest.fixture
def date_time_refused(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """jsonschema with a date-time check that refuses every value; the compiled schema made
    again from it, and the real ones put back afterwards."""
    checker = jsonschema.FormatChecker()
    checker.checks("date-time")(lambda _value: False)
    strict = jsonschema.Draft202012Validator(events.schema(), format_checker=checker)
    monkeypatch.setattr(events, "_validator", lambda: strict)
    events._compiled.cache_clear()
    yield
    events._compiled.cache_clear()


@pytest.mark.usefixtures("date_time_refused")
def test_compiled_schema_checks_formats_with_jsonschemas_checkers() -> None:
    """A format jsonschema checks (here date-time, given a checker) the compiled schema checks
    the same way, so a checker installed later cannot make them disagree."""
    with pytest.raises(InvalidEvent) as caught:
        events.parse(body(make_event()), "application/json")
    assert caught.value.detail == "time: fails 'format'"
    assert not events._conforms(make_event())


@pytest.mark.parametrize(
    "change",
    [
        {"personalisation": {"amount": float("nan")}},
        {"personalisation": {"amount": float("inf")}},
        {"type": "planning.application.received\n"},
        {"council": "sdc\n"},
        {"council": "sd\ud800"},
    ],
    ids=["nan", "infinity", "type-newline", "council-newline", "lone-surrogate"],
)
def test_where_the_compiled_schema_is_stricter_jsonschema_decides(
    change: dict[str, object],
) -> None:
    """Values the compiled schema refuses but jsonschema accepts (JSON's NaN and infinities, a
    line break before a pattern's ``$``) are accepted, as before; one it cannot take (a lone
    surrogate where a pattern applies) gets jsonschema's reason and path."""
    raw = body(make_event(**change))
    assert not events._conforms(json.loads(raw))
    assert _outcome(lambda: events.parse(raw, "application/json")) == _outcome(
        lambda: events.from_document(json.loads(raw))
    )
