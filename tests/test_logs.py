"""Logging: structlog and the libraries' stdlib logging, both masked, in one format."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier import logs

EMAIL, MOBILE = "alex@example.org", "07700900123"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put back the global structlog and root-logger set-up each test changes."""
    config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**config)
    root.handlers[:] = handlers
    root.setLevel(level)


def configured(fmt: str) -> io.StringIO:
    stream = io.StringIO()
    logs.configure(fmt, "info", stream=stream)
    return stream


@pytest.mark.usefixtures("restore_logging")
def test_library_warning_is_json_with_email_and_phone_masked() -> None:
    """A library's stdlib warning comes out as a JSON line, its address and number masked."""
    stream = configured("json")
    logging.getLogger("aio_pika.robust_connection").warning(
        "Connection for %s (mobile %s) lost", EMAIL, MOBILE
    )
    out = stream.getvalue()
    assert EMAIL not in out and MOBILE not in out
    [line] = out.splitlines()
    record = json.loads(line)
    assert record["event"] == "Connection for [email] (mobile [phone]) lost"
    assert (record["level"], record["logger"]) == ("warning", "aio_pika.robust_connection")
    assert "timestamp" in record


@pytest.mark.usefixtures("restore_logging")
def test_library_warning_on_the_console_is_masked() -> None:
    """The console format masks a library's record as it does the service's own events."""
    stream = configured("console")
    logging.getLogger("uvicorn.error").warning("refused %s and %s", EMAIL, MOBILE)
    out = stream.getvalue()
    assert EMAIL not in out and MOBILE not in out
    assert "[email]" in out and "[phone]" in out


@pytest.mark.usefixtures("restore_logging")
def test_library_traceback_is_masked() -> None:
    """An exception a library logs is rendered as text, with what it quotes masked."""
    stream = configured("json")
    try:
        raise ValueError(f"bad recipient {EMAIL} {MOBILE}")
    except ValueError:
        logging.getLogger("asyncssh").exception("upload failed")
    out = stream.getvalue()
    assert EMAIL not in out and MOBILE not in out
    record = json.loads(out)
    assert "ValueError: bad recipient [email] [phone]" in record["exception"]


@pytest.mark.usefixtures("restore_logging")
def test_stdlib_and_structlog_lines_share_the_format() -> None:
    """A structlog event and a stdlib record make JSON lines with the same keys."""
    stream = configured("json")
    structlog.get_logger("notifier.worker").warning("worker.slow", to=EMAIL)
    logging.getLogger("sqlalchemy.pool").warning("pool slow")
    ours, theirs = (json.loads(line) for line in stream.getvalue().splitlines())
    assert ours["to"] == "[redacted]"
    assert {"event", "level", "timestamp"} <= set(ours) & set(theirs)


@pytest.mark.usefixtures("restore_logging")
def test_configuring_again_replaces_the_handler() -> None:
    """configure() twice leaves one handler: each record is written once."""
    logs.configure("json", "info", stream=io.StringIO())
    stream = configured("json")
    logging.getLogger("aiormq").error("broker gone")
    assert len(stream.getvalue().splitlines()) == 1


@pytest.mark.usefixtures("restore_logging")
def test_library_info_is_below_the_threshold() -> None:
    """Libraries log from WARNING up, whatever the service's own level."""
    stream = configured("json")
    logging.getLogger("aio_pika").info("connected to %s", EMAIL)
    assert stream.getvalue() == ""


# Strings made of what the patterns look at: digits (ASCII and others), the phone separators,
# "@", dots, word characters, NUL and other characters.
texts = st.text(alphabet="0123456789٣ ()-+@.a_Z\x00é/", max_size=40) | st.sampled_from(
    [EMAIL, MOBILE, "+44 7700 900123", "2026-12-01", "2026-12-01T13:23:58.123456Z", "id-12"]
)
fields = st.dictionaries(
    st.sampled_from(["event", "to", "detail", "error", "id", "name", "level", "n", "x"]),
    texts | st.integers() | st.none(),
)


@settings(max_examples=500, deadline=None)
@given(fields)
def test_one_search_of_a_line_masks_what_each_string_masked(event: dict[str, object]) -> None:
    """The processor masks exactly what masking every string, and dropping every forbidden
    field, masks (the single search of the joined strings only skips lines with nothing)."""
    expected = {
        key: "[redacted]"
        if key in logs._FORBIDDEN
        else logs.redact(value)
        if isinstance(value, str)
        else value
        for key, value in event.items()
    }
    found = logs._redact_processor(None, "info", dict(event))
    assert found == expected and list(found) == list(expected)


@pytest.mark.usefixtures("restore_logging")
def test_the_canonical_line_is_one_json_line_with_personal_data_masked() -> None:
    """A notification.processed line with its bound context: one JSON line, the address and
    number in a detail masked, the identifiers and the rest as they were."""
    stream = configured("json")
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(event_id="E-1", event_type="a.b", council="sdc")
    try:
        structlog.get_logger("notifier.worker").info(
            "notification.processed", outcome="dead", detail=f"{EMAIL} {MOBILE}", duration_ms=1.5
        )
    finally:
        structlog.contextvars.clear_contextvars()
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["detail"] == "[email] [phone]"
    assert (record["event_id"], record["council"], record["duration_ms"]) == ("E-1", "sdc", 1.5)
