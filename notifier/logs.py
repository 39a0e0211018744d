"""structlog configuration: JSON in production, console on a terminal, personal data masked."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

_HANDLER = "notifier"  # the name of the root handler configure() installs
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w])(\+?\d[\d ()-]{8,}\d)(?![\w])")
# Found in a line's strings joined by NUL wherever redact() would change one of them: an email
# address needs its "@", and a number the phone pattern finds in a string it finds in the join
# (NUL, which neither pattern takes, stands where the string began or ended).
_MAYBE_PERSONAL = re.compile(f"@|{_PHONE.pattern}")
# Fields that may name a person or carry message text; dropped whatever their value.
_FORBIDDEN = frozenset(
    {
        "to",
        "email",
        "mobile",
        "address",
        "name",
        "body",
        "text",
        "html",
        "subject",
        "personalisation",
        "recipient",
    }
)


def redact(value: str) -> str:
    """Mask anything that looks like an email address or a phone number."""
    return _PHONE.sub("[phone]", _EMAIL.sub("[email]", value))


def _redact_processor(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Forbidden fields redacted; every string masked (``redact``), in one search of them all
    when none has anything to mask, as most lines have not."""
    for key in _FORBIDDEN.intersection(event_dict):
        event_dict[key] = "[redacted]"
    texts = [key for key, value in event_dict.items() if isinstance(value, str)]
    if _MAYBE_PERSONAL.search("\0".join(event_dict[key] for key in texts)):
        for key in texts:
            event_dict[key] = redact(event_dict[key])
    return event_dict


def configure(fmt: str = "auto", level: str = "info", *, stream: TextIO | None = None) -> None:
    """Set up structlog, and route stdlib logging (aio-pika, uvicorn, SQLAlchemy, asyncssh...)
    through the same processors, redaction included, to the same stream in the same format."""
    stream = stream or sys.stderr
    console = fmt == "console" or (fmt == "auto" and stream.isatty())
    threshold = logging.getLevelName(level.upper())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Tracebacks as plain text, never with local variables (they hold personal data).
        structlog.processors.format_exc_info,
        _redact_processor,
    ]
    renderer = structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.set_name(_HANDLER)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER]:
        root.removeHandler(old)  # configured again: replace, never print a record twice
    root.addHandler(handler)
    # Libraries speak from WARNING up: their INFO is chatter about connections and pools.
    root.setLevel(max(logging.WARNING, threshold))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
