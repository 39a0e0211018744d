"""The return path of one notification (VERP): ``<local>+<token>@<bounce domain>``.

The token is the notification id (a UUID, 26 characters of base32) and a truncated
HMAC-SHA256 over the council and that id (16 characters of base32, 80 bits), so a bounce can
only fail the notification it was sent for, and only for the council that signed it. Lowercase
base32 survives the servers that fold the case of local parts. With the 8-character
``bounces+`` the whole local part is 50 characters, inside RFC 5321 §4.5.3.1.1's 64.

The bounce domain must be SPF-aligned with the From domain (a subdomain of it, with its own SPF
record naming the relay; RFC 7208, RFC 7489 §3.1.2): see docs/operations.md.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import uuid
from collections.abc import Mapping

from notifier.errors import ConfigurationError
from notifier.messages import EmailMessage
from notifier.model import Council

MAX_LOCAL_PART = 64  # RFC 5321 §4.5.3.1.1
_ID_CHARS = 26  # 16 bytes in base32, unpadded
_MAC_BYTES = 10
_MAC_CHARS = 16


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def _unb32(text: str) -> bytes:
    return base64.b32decode(text.upper() + "=" * (-len(text) % 8))


@dataclasses.dataclass(frozen=True, slots=True)
class Token:
    """A verified return path: the notification it was signed for and the council that signed."""

    notification_id: str
    council: str


class ReturnPaths:
    """Signs and verifies return paths for the configured councils with one secret key."""

    def __init__(self, key: bytes, councils: Mapping[str, Council]) -> None:
        if len(key) < 32:
            raise ConfigurationError("NOTIFIER_BOUNCE_KEY: must be at least 32 characters")
        self._key = key
        self._bases: dict[str, tuple[str, str]] = {}
        for code, council in councils.items():
            if not council.bounce_address:
                continue
            local, _, domain = council.bounce_address.rpartition("@")
            if not local or not domain or "+" in local:
                raise ConfigurationError(
                    f"NOTIFIER_COUNCILS_FILE: council {code!r}: bounce_address must be"
                    " local@domain without '+'"
                )
            if len(local) + 1 + _ID_CHARS + _MAC_CHARS > MAX_LOCAL_PART:
                raise ConfigurationError(
                    f"NOTIFIER_COUNCILS_FILE: council {code!r}: bounce_address's local part"
                    f" must be at most {MAX_LOCAL_PART - 1 - _ID_CHARS - _MAC_CHARS} characters"
                )
            self._bases[code] = (local.lower(), domain.lower())

    @property
    def domains(self) -> frozenset[str]:
        """The bounce domains mail may be accepted for."""
        return frozenset(domain for _, domain in self._bases.values())

    def signs_for(self, council: str) -> bool:
        return council in self._bases

    def address(self, council: str, notification_id: str) -> str:
        """The MAIL FROM for ``notification_id`` of ``council`` (which must have a bounce
        address)."""
        local, domain = self._bases[council]
        raw = uuid.UUID(notification_id).bytes
        return f"{local}+{_b32(raw)}{self._mac(council, raw)}@{domain}"

    def for_message(self, message: EmailMessage) -> str | None:
        """The SMTP channel's ``return_path``: the signed MAIL FROM for ``message``, or None
        when its council has no bounce address."""
        if not self.signs_for(message.council.code):
            return None
        return self.address(message.council.code, message.notification_id)

    def verify(self, address: str) -> Token | None:
        """The notification ``address`` was signed for, or None: not one of our bounce
        addresses, malformed, or a signature that no council whose address it is made."""
        local, _, domain = address.strip().strip("<>").lower().rpartition("@")
        base, plus, token = local.partition("+")
        if not plus or len(token) != _ID_CHARS + _MAC_CHARS:
            return None
        try:
            raw = _unb32(token[:_ID_CHARS])
        except (binascii.Error, ValueError):
            return None
        if len(raw) != 16:
            return None
        for council, (their_local, their_domain) in self._bases.items():
            if (base, domain) != (their_local, their_domain):
                continue
            if hmac.compare_digest(self._mac(council, raw), token[_ID_CHARS:]):
                return Token(str(uuid.UUID(bytes=raw)), council)
        return None

    def _mac(self, council: str, raw: bytes) -> str:
        digest = hmac.new(self._key, council.encode() + b"\0" + raw, hashlib.sha256).digest()
        return _b32(digest[:_MAC_BYTES])
