"""structlog configuration: JSON in production, console on a terminal, personal data masked."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w])(\+?\d[\d ()-]{8,}\d)(?![\w])")
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
    for key in list(event_dict):
        if key in _FORBIDDEN:
            event_dict[key] = "[redacted]"
        elif isinstance(event_dict[key], str):
            event_dict[key] = redact(event_dict[key])
    return event_dict


def configure(fmt: str = "auto", level: str = "info") -> None:
    """Set up structlog (and route stdlib logging through the same redaction)."""
    console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Tracebacks as plain text, never with local variables (they hold personal data).
        structlog.processors.format_exc_info,
        _redact_processor,
        structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer(),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s"
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
