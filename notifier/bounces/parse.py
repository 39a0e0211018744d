"""What an inbound message to a bounce address says: a hard or soft bounce, a complaint, an
auto-reply, or nothing we act on. Pure: bytes in, a ``Parsed`` out, never an exception.

In order, first match wins:

1. too large, no headers at all, or broken MIME structure -> ``malformed``;
2. more than ``MAX_RECEIVED`` Received headers, or a report about a report -> ``loop``;
3. ``multipart/report; report-type=feedback-report`` with ``Feedback-Type: abuse`` or ``fraud``
   (ARF, RFC 5965 §2, §3.1) -> ``complaint``;
4. ``multipart/report; report-type=delivery-status`` (RFC 3464 §2): per recipient, ``Action:``
   ``delayed`` -> ``delayed``, ``delivered``/``relayed``/``expanded`` -> not a bounce, ``failed``
   -> the ``Status:`` code by ``classify_status``; the most severe recipient decides;
5. an auto-reply (RFC 3834 ``Auto-Submitted`` other than ``no``, or the vendors' out-of-office
   headers) -> ``auto-reply``, never a bounce;
6. otherwise flufl.bounce's detectors, which know the non-standard formats (qmail, older
   Exchange, Yahoo, ...): permanent -> ``hard``, temporary -> ``soft``;
7. else ``not-bounce``.

Nothing here reads or returns the failed recipient's address: the notification is found by the
signed return path (``verp.py``); ``addresses`` are the places a return path can be read from.
"""

from __future__ import annotations

import dataclasses
import email
import email.errors
import email.message
import re
from collections.abc import Iterable
from email.message import Message
from email.utils import getaddresses
from enum import StrEnum

from flufl.bounce import all_failures

MAX_BYTES = 10 * 1024 * 1024
MAX_RECEIVED = 40  # RFC 5321 §6.3: a loop shows as a long trail of Received fields
_STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
_BROKEN = (
    email.errors.NoBoundaryInMultipartDefect,
    email.errors.StartBoundaryNotFoundDefect,
    email.errors.MultipartInvariantViolationDefect,
)
# Where a return path is found, most direct first: the final delivery server's record of the
# envelope recipient, then the header recipients.
_RECIPIENT_HEADERS = ("X-Original-To", "Delivered-To", "Envelope-To", "X-Envelope-To", "To", "Cc")
_AUTO_REPLY_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress")
_COMPLAINT_TYPES = frozenset({"abuse", "fraud"})


class Kind(StrEnum):
    """What a message to a bounce address is (a closed set: the metric's ``kind`` label)."""

    HARD = "hard"  # the address can never receive: permanent-failure
    SOFT = "soft"  # the mailbox may recover (full, unavailable): noted, then a failure
    DELAYED = "delayed"  # still being tried by the remote server: noted only
    OTHER = "other-failure"  # failed for a reason that is not the address's (policy, content)
    COMPLAINT = "complaint"  # the resident reported it as spam (ARF)
    AUTO_REPLY = "auto-reply"  # out of office, vacation: not a bounce
    NOT_BOUNCE = "not-bounce"  # anything else (a positive DSN, a person writing in)
    LOOP = "loop"
    MALFORMED = "malformed"


# The most severe recipient of a DSN decides.
_SEVERITY = (Kind.HARD, Kind.SOFT, Kind.OTHER, Kind.DELAYED, Kind.NOT_BOUNCE)


@dataclasses.dataclass(frozen=True, slots=True)
class Parsed:
    """The verdict on one message. ``status``: the RFC 3463 code when one decided; ``detail``:
    how it was decided (for the log: no addresses); ``addresses``: where a return path may be
    read, in order (the header recipients, then the returned message's Return-Path)."""

    kind: Kind
    detail: str
    status: str | None = None
    addresses: tuple[str, ...] = ()


def classify_status(code: str) -> Kind:
    """The kind an RFC 3463 ``Status:`` of a failed recipient gives: 5.1.x, 5.2.x other than
    5.2.2, and 5.4.4 (no route to the domain) blame the address; 4.x.x and 5.2.2 (mailbox full,
    RFC 3463 §3.3: "a persistent transient failure") may clear; other 5.x.x (policy, content,
    the mail system) are not the resident's; anything else is not a failure."""
    match = _STATUS.match(code)
    if match is None:
        return Kind.OTHER
    klass, subject, detail = match.groups()
    if klass == "2":
        return Kind.NOT_BOUNCE
    if klass == "4" or (subject, detail) == ("2", "2"):
        return Kind.SOFT
    if subject in ("1", "2") or (subject, detail) == ("4", "4"):
        return Kind.HARD
    return Kind.OTHER


def parse(data: bytes, *, max_bytes: int = MAX_BYTES) -> Parsed:
    """The verdict on ``data``, one message as received. Never raises: bounces are untrusted
    mail, and anything the email package or a detector cannot take is ``malformed``."""
    if len(data) > max_bytes:
        return Parsed(Kind.MALFORMED, "too-large")
    try:
        message = email.message_from_bytes(data)
        return _parse(message)
    except Exception as exc:  # the boundary for untrusted input: a bad message, not a crash
        return Parsed(Kind.MALFORMED, f"unreadable:{type(exc).__name__}")


def _parse(message: Message) -> Parsed:
    if not message.keys() or _broken(message):
        return Parsed(Kind.MALFORMED, "mime")
    addresses = _addresses(message)
    if len(message.get_all("Received") or ()) > MAX_RECEIVED:
        return Parsed(Kind.LOOP, "received", addresses=addresses)
    report = (
        message.get_param("report-type", header="content-type")
        if message.get_content_type() == "multipart/report"
        else None
    )
    if isinstance(report, str) and report.lower() in ("feedback-report", "delivery-status"):
        returned = _returned(message)
        addresses = tuple(dict.fromkeys((*addresses, *_return_paths(returned))))
        if any(r.get_content_type() == "multipart/report" for r in returned):
            return Parsed(Kind.LOOP, "report-of-report", addresses=addresses)
        if report.lower() == "feedback-report":
            return dataclasses.replace(_feedback(message), addresses=addresses)
        return dataclasses.replace(_dsn(message), addresses=addresses)
    if _auto_reply(message):
        return Parsed(Kind.AUTO_REPLY, "auto-submitted", addresses=addresses)
    temporary, permanent = all_failures(message)
    if permanent:
        return Parsed(Kind.HARD, "detector", addresses=addresses)
    if temporary:
        return Parsed(Kind.SOFT, "detector", addresses=addresses)
    return Parsed(Kind.NOT_BOUNCE, "no-failure", addresses=addresses)


def _broken(message: Message) -> bool:
    return any(isinstance(defect, _BROKEN) for part in message.walk() for defect in part.defects)


def _addresses(message: Message) -> tuple[str, ...]:
    found: list[str] = []
    for header in _RECIPIENT_HEADERS:
        values = [str(v) for v in message.get_all(header) or ()]
        found.extend(address for _, address in getaddresses(values) if "@" in address)
    return tuple(dict.fromkeys(found))


def _returned(message: Message) -> list[Message]:
    """The returned message (``message/rfc822``) or its headers (``text/rfc822-headers``)."""
    returned: list[Message] = []
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                returned.append(payload[0])
        elif kind == "text/rfc822-headers":
            text = part.get_payload(decode=True)
            if isinstance(text, bytes):
                returned.append(email.message_from_bytes(text))
    return returned


def _return_paths(returned: Iterable[Message]) -> tuple[str, ...]:
    values = [str(v) for r in returned for v in r.get_all("Return-Path") or ()]
    return tuple(address for _, address in getaddresses(values) if "@" in address)


def _fields(message: Message, content_type: str) -> list[Message]:
    """The field groups of a ``message/delivery-status`` or ``message/feedback-report`` part."""
    for part in message.walk():
        if part.get_content_type() != content_type:
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            return [p for p in payload if isinstance(p, Message)]
        if isinstance(payload, str):
            return [email.message_from_string(block) for block in payload.split("\n\n")]
    return []


def _feedback(message: Message) -> Parsed:
    groups = _fields(message, "message/feedback-report")
    kinds = {str(g.get("Feedback-Type", "")).strip().lower() for g in groups}
    if kinds & _COMPLAINT_TYPES:
        return Parsed(Kind.COMPLAINT, "arf")
    return Parsed(Kind.NOT_BOUNCE, "arf-not-a-complaint")


def _dsn(message: Message) -> Parsed:
    verdicts: list[tuple[Kind, str | None]] = []
    for group in _fields(message, "message/delivery-status"):
        action = str(group.get("Action", "")).strip().lower()
        if not action:
            continue  # the per-message group, or a recipient without an action
        status_match = _STATUS.match(str(group.get("Status", "")))
        status = ".".join(status_match.groups()) if status_match else None
        if action == "delayed":
            verdicts.append((Kind.DELAYED, status))
        elif action == "failed":
            verdicts.append((classify_status(status) if status else Kind.OTHER, status))
        else:
            verdicts.append((Kind.NOT_BOUNCE, status))
    if not verdicts:
        return Parsed(Kind.MALFORMED, "dsn-without-recipients")
    kind, status = min(verdicts, key=lambda v: _SEVERITY.index(v[0]))
    return Parsed(kind, "dsn", status)


def _auto_reply(message: Message) -> bool:
    """RFC 3834 §5.1, and the headers Exchange and vacation programs add."""
    submitted = str(message.get("Auto-Submitted", "no")).strip().lower()
    if submitted and not submitted.startswith("no"):
        return True
    if any(message.get(h) is not None for h in _AUTO_REPLY_HEADERS):
        return True
    return str(message.get("Precedence", "")).strip().lower() == "auto_reply"
