"""The event contract: parse and validate the CloudEvents that council systems publish."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache, partial
from importlib import resources
from typing import Any

import jsonschema
import jsonschema_rs

from notifier.errors import InvalidEvent

ACCEPTED_CONTENT_TYPES = frozenset({"application/cloudevents+json", "application/json", ""})
# The furthest ahead an event may ask to be sent.
MAX_SEND_AFTER = timedelta(days=366)
# The control event that withdraws waiting notifications of a case (docs/events.md).
WITHDRAW_TYPE = "notifier.notifications.withdraw"


@dataclasses.dataclass(frozen=True, slots=True)
class Recipient:
    """Who the event is about, as the publishing system knows them."""

    customer_id: str | None = None
    name: str | None = None
    email: str | None = None
    mobile: str | None = None
    address: tuple[str, ...] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Withdraw:
    """What a withdraw control event asks for: the case's waiting notifications of these event
    types (all of them when empty), or of one event."""

    event_types: tuple[str, ...] = ()
    event_id: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class CaseEvent:
    """One validated case event."""

    id: str
    source: str
    type: str
    council: str
    recipient: Recipient
    personalisation: dict[str, Any]
    subject: str | None = None
    time: datetime | None = None
    urgent: bool = False
    postage: str | None = None
    withdraw: Withdraw | None = None  # only on the control event WITHDRAW_TYPE
    send_after: datetime | None = None  # data.send_after: not before this time (aware)


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of a case event (shipped as ``docs/case-event.schema.json`` too)."""
    text = resources.files("notifier").joinpath("case-event.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator() -> jsonschema.protocols.Validator:
    """jsonschema's validator: the reference, and the one that names a failing field."""
    cls = jsonschema.validators.validator_for(schema())
    return cls(schema(), format_checker=cls.FORMAT_CHECKER)


@cache
def _compiled() -> jsonschema_rs.Validator:
    """The same schema compiled by jsonschema-rs (a complete implementation of its draft,
    2020-12, https://json-schema.org/draft/2020-12): the check a valid event takes. Its formats
    are checked by jsonschema's own format checkers, so the two agree on formats whatever
    checkers jsonschema has installed."""
    checker = _validator().format_checker
    assert checker is not None
    formats: dict[str, Callable[..., bool]] = {
        name: partial(checker.conforms, format=name) for name in _formats(schema())
    }
    return jsonschema_rs.validator_for(schema(), validate_formats=True, formats=formats)


def _formats(node: Any) -> set[str]:
    """The names of the formats a schema uses."""
    if isinstance(node, dict):
        found = {node["format"]} if isinstance(node.get("format"), str) else set()
        return found.union(*(_formats(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_formats(value) for value in node))
    return set()


def parse(body: bytes, content_type: str | None = None) -> CaseEvent:
    """Decode and validate one message body, or raise InvalidEvent with a dead-letter reason."""
    if (content_type or "").split(";")[0].strip().lower() not in ACCEPTED_CONTENT_TYPES:
        raise InvalidEvent("content-type", f"unsupported content type {content_type!r}")
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEvent(
            "invalid-json", f"{type(exc).__name__} at position {_pos(exc)}"
        ) from None
    if not _conforms(document):
        _check(document)  # jsonschema has the last word, and names the failing field
    return _event(document)


def from_document(document: Any) -> CaseEvent:
    """Validate an already decoded event document (any Python values: jsonschema alone)."""
    _check(document)
    return _event(document)


def _conforms(document: Any) -> bool:
    """Whether the compiled schema passes a document decoded from JSON. It is never more lenient
    than jsonschema (tests/test_events.py compares them); where it is stricter (NaN, a line
    break before a pattern's ``$``) or cannot take a value (a lone surrogate where a pattern
    applies), jsonschema decides."""
    try:
        return _compiled().is_valid(document)
    except ValueError:
        return False


def _check(document: Any) -> None:
    """InvalidEvent ``schema`` naming the failing field, when jsonschema refuses the document."""
    validator = _validator()
    error = (
        None
        if validator.is_valid(document)
        else jsonschema.exceptions.best_match(validator.iter_errors(document))
    )
    if error is not None:
        # The path and the rule, never the offending value: it may be a phone number or a name.
        where = "/".join(str(p) for p in error.absolute_path) or "(event)"
        raise InvalidEvent("schema", f"{where}: fails {error.validator!r}")


def _event(document: dict[str, Any]) -> CaseEvent:
    """The CaseEvent of a valid document."""
    data = document["data"]
    r = data.get("recipient") or {}
    address = r.get("address")
    withdraw = data.get("withdraw") or {}
    return CaseEvent(
        id=document["id"],
        source=document["source"],
        type=document["type"],
        council=data["council"],
        recipient=Recipient(
            customer_id=r.get("customer_id"),
            name=r.get("name"),
            email=r.get("email"),
            mobile=r.get("mobile"),
            address=tuple(address) if address else None,
        ),
        personalisation=dict(data.get("personalisation") or {}),
        subject=document.get("subject"),
        time=_parse_time(document.get("time")),
        urgent=bool(data.get("urgent", False)),
        postage=data.get("postage"),
        send_after=_send_after(data.get("send_after"), document.get("time")),
        withdraw=Withdraw(tuple(withdraw.get("event_types", ())), withdraw.get("event_id"))
        if document["type"] == WITHDRAW_TYPE
        else None,
    )


def _send_after(value: str | None, published: str | None) -> datetime | None:
    """``data.send_after`` as an aware time: RFC 3339 needs its offset; more than a year after
    the event (or after now, for an event without a time) is refused."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidEvent("invalid-send-after", "data/send_after: not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise InvalidEvent("invalid-send-after", "data/send_after: the time has no offset")
    start = _parse_time(published) or datetime.now(UTC)
    if moment - start > MAX_SEND_AFTER:
        raise InvalidEvent("send-after-too-far", "data/send_after: more than a year ahead")
    return moment


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidEvent("schema", "time: fails 'format'") from None


def _pos(exc: Exception) -> int:
    for name in ("pos", "start"):
        value = getattr(exc, name, None)
        if isinstance(value, int):
            return value
    return 0
