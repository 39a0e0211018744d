"""Logging: structlog and the libraries' stdlib logging, both masked, in one format."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

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
