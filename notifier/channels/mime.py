"""One EmailMessage as the exact bytes that go on the wire: MIME structure, headers, DKIM.

Pure: no I/O beyond reading a DKIM key file at start-up. The message is built, serialised once
with CRLF line endings and signed over those bytes; the channel sends exactly those bytes
(RFC 5322, RFC 2045-2047, RFC 8058).
"""

from __future__ import annotations

import binascii
import dataclasses
import re
import secrets
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path

import dkim as dkimpy

from notifier.errors import ConfigurationError, PermanentFailure, TechnicalFailure
from notifier.messages import EmailMessage
from notifier.recipients.email import InvalidEmail, normalise_email

# 7-bit on the wire: bodies in quoted-printable (lines <= 76), non-ASCII header values as
# RFC 2047 encoded-words, so no relay needs 8BITMIME or SMTPUTF8.
CRLF = "\r\n"

# RFC 8058 needs both List-Unsubscribe headers signed; From is signed twice so that a second
# From cannot be added without breaking the signature (RFC 6376 §8.15). A listed header that a
# message lacks is signed as absent, so a statutory notice cannot gain List-Unsubscribe later.
SIGNED_HEADERS = (
    "from",
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "reply-to",
    "mime-version",
    "content-type",
    "auto-submitted",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "feedback-id",
)

_LABEL_UNSAFE = re.compile(r"[^a-z0-9-]+")
_HTTPS_URL = re.compile(r"https://[!#-;=?-~]+")


@dataclasses.dataclass(frozen=True, slots=True)
class DkimSigner:
    """An RSA key and selector that sign for a domain (default: each message's From domain)."""

    selector: str
    private_key: bytes = dataclasses.field(repr=False)
    domain: str | None = None

    @classmethod
    def from_file(cls, path: Path, selector: str, domain: str | None = None) -> DkimSigner:
        """A signer with the PEM key in ``path``; ConfigurationError if it cannot be used."""
        try:
            key = path.read_bytes()
            dkimpy.crypto.parse_pem_private_key(key)
        except OSError as exc:
            raise ConfigurationError(
                f"NOTIFIER_SMTP_DKIM_KEY_FILE: cannot be read ({type(exc).__name__})"
            ) from None
        except Exception:
            # The parser's message may quote key material.
            raise ConfigurationError(
                "NOTIFIER_SMTP_DKIM_KEY_FILE: not a PEM RSA private key"
            ) from None
        if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?", selector):
            raise ConfigurationError("NOTIFIER_SMTP_DKIM_SELECTOR: not a DNS label")
        return cls(selector=selector, private_key=key, domain=domain)

    def sign(self, data: bytes, domain: str) -> bytes:
        """The ``DKIM-Signature: ...\\r\\n`` header line for ``data`` (CRLF message bytes)."""
        try:
            line = dkimpy.sign(
                data,
                self.selector.encode(),
                (self.domain or domain).encode(),
                self.private_key,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=[h.encode() for h in SIGNED_HEADERS],
            )
        except dkimpy.DKIMException as exc:
            raise TechnicalFailure("dkim-sign", type(exc).__name__, retryable=False) from None
        return bytes(line)


@dataclasses.dataclass(frozen=True, slots=True)
class WireEmail:
    """A composed message: the exact bytes for the relay (signed, when DKIM is on)."""

    data: bytes
    message_id: str


def build_email(
    message: EmailMessage, *, now: datetime, dkim: DkimSigner | None = None
) -> WireEmail:
    """The MIME message for one resident: text then HTML, council headers, DKIM when given.

    Assembled directly from the stdlib's encoders (RFC 2047 headers, quoted-printable bodies):
    the structure is fixed, and the ``email`` package's general composer was the largest cost
    in the worker's profile (bench/README.md)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    council = message.council
    message_id = message_id_for(message.notification_id, council.email_domain)
    label = _LABEL_UNSAFE.sub("-", message.event_type.lower()).strip("-") or "notifications"
    headers = [
        ("From", formataddr((council.name, council.email_from), charset="utf-8")),
        ("To", recipient(message)),
        ("Subject", " ".join(message.subject.split())),
        ("Date", format_datetime(now.astimezone(UTC))),
        ("Message-ID", message_id),
        ("Reply-To", council.reply_to),
        ("Auto-Submitted", "auto-generated"),
        ("Feedback-ID", f"{label}:{council.code}:notifier"),
    ]
    if message.unsubscribe_url:
        if not _HTTPS_URL.fullmatch(message.unsubscribe_url):
            # RFC 8058: exactly one HTTPS URI; anything else is our bug, not the resident's.
            raise TechnicalFailure("unsubscribe-url-invalid", retryable=False)
        headers += [
            ("List-Id", f"<{label}.{council.code}.{council.email_domain}>"),
            ("List-Unsubscribe", f"<{message.unsubscribe_url}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ]
    # Quoted-printable never writes "=_" (it encodes "=" as "=3D"), so no body holds this.
    boundary = f"=_notifier_{secrets.token_hex(12)}"
    headers += [
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    ]
    data = b"".join(
        [
            "".join(_header(name, value) for name, value in headers).encode("ascii"),
            b"\r\n",
            _part(boundary, "plain", message.text),
            _part(boundary, "html", message.html),
            f"--{boundary}--\r\n".encode("ascii"),
        ]
    )
    if dkim is not None:
        data = dkim.sign(data, council.email_domain) + data
    return WireEmail(data=data, message_id=message_id)


# A notification id that can stand as the left part of a Message-ID (RFC 5322 §3.6.4 dot-atom).
_ID_LEFT = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]|\.(?=[A-Za-z0-9]))*")


def message_id_for(notification_id: str, domain: str) -> str:
    """The Message-ID of a notification's email: ``<notification id@council's domain>``.

    Stable across attempts, so a resend after a crash between the relay's acceptance and our
    record is the same message to the resident's mail client, which may collapse it (RFC 5322
    §3.6.4: one Message-ID per message, its left part unique on the right-hand domain; the
    notification id is a UUID). An id that cannot stand there gets a random one."""
    if _ID_LEFT.fullmatch(notification_id):
        return f"<{notification_id}@{domain}>"
    return make_msgid(domain=domain)


def _header(name: str, value: str) -> str:
    """One header line: ASCII as it is when short or unfoldable (a URL: up to 998 is allowed),
    else folded at 78, RFC 2047 encoded when not ASCII."""
    if value.isascii() and (len(name) + 2 + len(value) <= 78 or " " not in value):
        return f"{name}: {value}\r\n"
    charset = "us-ascii" if value.isascii() else "utf-8"
    return f"{name}: {Header(value, charset, header_name=name).encode(linesep=CRLF)}\r\n"


def _part(boundary: str, subtype: str, text: str) -> bytes:
    """A text part, UTF-8 in quoted-printable (lines of at most 76 characters, CRLF)."""
    body = binascii.b2a_qp(text.replace("\r\n", "\n").encode("utf-8"), istext=True)
    return (
        (
            f"--{boundary}\r\n"
            f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        ).encode("ascii")
        + body.replace(b"\n", b"\r\n")
        + b"\r\n"
    )


def recipient(message: EmailMessage) -> str:
    """The To address, checked by the one email rule; PermanentFailure("invalid-email", rule)
    (which never quotes it) when unusable."""
    try:
        return normalise_email(message.to)
    except InvalidEmail as exc:
        raise PermanentFailure("invalid-email", exc.code) from None


def envelope_sender(message: EmailMessage, bounce_address: str | None) -> str:
    """MAIL FROM (RFC 5321 §4.4): the bounce mailbox when configured, else the From address.

    The bounce address is an envelope matter only: RFC 5321 §4.4 leaves the Return-Path header
    to the final delivery server, so no header carries it.
    """
    return bounce_address or message.council.email_from
