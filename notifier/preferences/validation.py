"""Checking a customer's details and preferences before they are stored (API, CSV import).

Pure: no I/O. Each broken rule is a FieldError naming the field, a rule code and wording for
people; none of them ever holds the value that broke the rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from datetime import time
from typing import Any

from notifier.model import Channel
from notifier.preferences.model import ACCESSIBLE_FORMATS
from notifier.recipients.address import normalise_address
from notifier.recipients.email import normalise_email
from notifier.recipients.invalid import InvalidDetail
from notifier.recipients.mobile import normalise_uk_mobile

LANGUAGES = ("en", "cy")
FLAGS = frozenset(
    {
        "email_verified",
        "mobile_verified",
        "address_verified",
        "sms_opted_out",
        "do_not_contact",
        "deceased",
    }
)
MAX_NAME = 200
CUSTOMER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


class FieldError(ValueError):
    """One field breaks one rule; ``message`` is for people and never quotes the value."""

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule
        self.message = message


def customer_id(value: str) -> str:
    if not CUSTOMER_ID.fullmatch(value):
        raise FieldError(
            "customer_id",
            "invalid-customer-id",
            "Customer id must be 1 to 100 letters, digits or . _ : - and start with a letter "
            "or digit",
        )
    return value


def _name(value: str | None) -> str | None:
    value = " ".join(value.split()) if value else None
    if value and len(value) > MAX_NAME:
        raise FieldError("name", "too-long", f"Name must be {MAX_NAME} characters or fewer")
    return value or None


def _email(value: str | None) -> str | None:
    if not value or not value.strip():
        return None
    try:
        return normalise_email(value)
    except InvalidDetail as exc:
        raise FieldError("email", exc.code, exc.message) from None


def _mobile(value: str | None, allow_fiction_range: bool) -> str | None:
    if not value or not value.strip():
        return None
    try:
        return normalise_uk_mobile(value, allow_fiction_range=allow_fiction_range)
    except InvalidDetail as exc:
        raise FieldError("mobile", exc.code, exc.message) from None


def _address(value: list[str] | tuple[str, ...] | None) -> tuple[str, ...] | None:
    """The lines as given, less blank ones and runs of whitespace; checked with the name later."""
    lines = tuple(" ".join(line.split()) for line in value or () if line and line.strip())
    return lines or None


def _postable(lines: tuple[str, ...], name: str | None) -> None:
    """The address rule as every letter applies it: the name is the block's first line."""
    try:
        normalise_address(lines, name=name)
    except InvalidDetail as exc:
        raise FieldError("address", exc.code, exc.message) from None


def _channel_order(value: list[str] | tuple[str, ...]) -> tuple[Channel, ...]:
    if not value:
        raise FieldError("channel_order", "required", "Give at least one channel")
    try:
        order = tuple(Channel(item) for item in value)
    except ValueError:
        raise FieldError(
            "channel_order", "unknown-channel", "Channels are email, sms and letter"
        ) from None
    if len(set(order)) != len(order):
        raise FieldError("channel_order", "duplicate-channel", "Give each channel once")
    return order


def _topic_opt_outs(value: list[str] | tuple[str, ...], topics: Collection[str]) -> frozenset[str]:
    for item in value:
        topic, _, channel = item.partition(":")
        if topic not in topics:
            raise FieldError(
                "topic_opt_outs", "unknown-topic", f"Topics are {', '.join(sorted(topics))}"
            )
        if channel and channel not in {str(c) for c in Channel}:
            raise FieldError(
                "topic_opt_outs",
                "unknown-channel",
                "A channel after a topic (topic:channel) is email, sms or letter",
            )
    return frozenset(value)


def _quiet_hours(value: tuple[str, str] | None) -> tuple[time, time] | None:
    if value is None:
        return None
    start, end = value
    if not (_TIME.fullmatch(start) and _TIME.fullmatch(end)):
        raise FieldError("quiet_hours", "invalid-time", "Give times as HH:MM, like 21:00")
    if start == end:
        raise FieldError("quiet_hours", "empty-window", "Quiet hours must start and end apart")
    return time.fromisoformat(start), time.fromisoformat(end)


def _choice(field: str, allowed: Collection[str], rule: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in allowed:
            raise FieldError(field, rule, f"{field} must be one of {', '.join(allowed)}")
        return value

    return check


def check_customer(
    raw: Mapping[str, Any], *, topics: Collection[str], allow_fiction_range: bool = False
) -> tuple[dict[str, Any], list[FieldError]]:
    """The Preferences fields for the values in ``raw`` (only those present), and every rule
    they break. ``raw`` holds plain values: strings, lists of strings, booleans, and
    ``quiet_hours`` as a (start, end) pair of ``HH:MM`` strings or None.

    ``raw`` is a whole record (it replaces what is stored), so the address is checked with the
    name it gives, or with none: the lines a letter to this record would print."""
    checks: dict[str, Callable[[Any], Any]] = {
        "name": _name,
        "email": _email,
        "mobile": lambda v: _mobile(v, allow_fiction_range),
        "address": _address,
        "channel_order": _channel_order,
        "topic_opt_outs": lambda v: _topic_opt_outs(v, topics),
        "quiet_hours": _quiet_hours,
        "language": _choice("language", LANGUAGES, "unsupported-language"),
        "accessible_format": _choice("accessible_format", ACCESSIBLE_FORMATS, "unknown-format"),
    }
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    for field, value in raw.items():
        try:
            values[field] = bool(value) if field in FLAGS else checks[field](value)
        except FieldError as exc:
            errors.append(exc)
    if values.get("address") and "name" not in {e.field for e in errors}:
        try:
            _postable(values["address"], values.get("name"))
        except FieldError as exc:
            errors.append(exc)
    broken = {e.field for e in errors}
    for detail in ("email", "mobile", "address"):
        if values.get(f"{detail}_verified") and not values.get(detail) and detail not in broken:
            errors.append(
                FieldError(
                    f"{detail}_verified",
                    "nothing-to-verify",
                    f"There is no {detail} to be verified",
                )
            )
    return values, errors
