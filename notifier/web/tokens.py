"""Signed, expiring personal links: the preferences page and one-click unsubscribe.

A link is the only credential a resident needs (no account, no password), so it carries the
council and customer id signed with the service's secret (HMAC-SHA256, itsdangerous) and a
timestamp. The preferences page refuses a link older than ``NOTIFIER_LINK_DAYS``; one-click
unsubscribe honours any link we signed, however old, because it can only reduce contact and a
mailbox provider may press it long after the message arrived.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from notifier.errors import ConfigurationError
from notifier.preferences.model import Preferences
from notifier.settings import HttpSettings, LinkSettings

DEV_SECRET_FILE = Path("var/secret_key")
FORM_LIFETIME = timedelta(hours=4)
_SIGNER = {"digest_method": hashlib.sha256}


class LinkInvalid(Exception):
    """Not a link we signed (or mangled in transit); carries nothing from the token."""


class LinkExpired(LinkInvalid):
    """A link we signed, now older than its lifetime."""


@dataclasses.dataclass(frozen=True, slots=True)
class Person:
    """Whom a link is for."""

    council: str
    customer_id: str


class Links:
    """Makes and reads the personal links (under ``base_url``)."""

    def __init__(self, secret: str, *, base_url: str, lifetime: timedelta) -> None:
        self.base_url = base_url.rstrip("/")
        self.lifetime = lifetime
        self._page = URLSafeTimedSerializer(secret, salt="preferences", signer_kwargs=_SIGNER)
        self._unsub = URLSafeTimedSerializer(secret, salt="unsubscribe", signer_kwargs=_SIGNER)
        self._form = URLSafeTimedSerializer(secret, salt="preferences-form", signer_kwargs=_SIGNER)

    @classmethod
    def from_settings(cls, links: LinkSettings, http: HttpSettings, *, development: bool) -> Links:
        """Links under the public URL; ``development``: on SQLite, see ``secret_key``."""
        return cls(
            secret_key(links, development=development),
            base_url=http.public_base_url,
            lifetime=timedelta(days=links.days),
        )

    # The LinkMaker pair handed to the processor (planning.LinkMaker).

    def preferences_link(self, preferences: Preferences, _topic: str) -> str | None:
        """The resident's page, for a customer we hold a record of (nothing to change otherwise)."""
        if not (preferences.stored and preferences.customer_id):
            return None
        return f"{self.base_url}/preferences/{self.preferences_token(preferences)}"

    def unsubscribe_link(self, preferences: Preferences, topic: str) -> str | None:
        """The RFC 8058 one-click URL for ``topic``; RFC 8058 allows HTTPS only, so none
        while the service's public URL is plain HTTP (development)."""
        if not (preferences.stored and preferences.customer_id):
            return None
        if not self.base_url.startswith("https://"):
            return None
        token = self._unsub.dumps([preferences.council, preferences.customer_id, topic])
        return f"{self.base_url}/unsubscribe/{token}"

    def preferences_token(self, preferences: Preferences) -> str:
        assert preferences.customer_id is not None
        return str(self._page.dumps([preferences.council, preferences.customer_id]))

    def read_preferences(self, token: str) -> Person:
        """Whom a page link is for; LinkExpired or LinkInvalid."""
        council, customer_id = _pair(self._load(self._page, token, self.lifetime), 2)
        return Person(council, customer_id)

    def read_unsubscribe(self, token: str) -> tuple[Person, str]:
        """Whom an unsubscribe link is for, and the topic; LinkInvalid (never expired)."""
        council, customer_id, topic = _pair(self._load(self._unsub, token, None), 3)
        return Person(council, customer_id), topic

    def form_token(self, page_token: str) -> str:
        """The hidden form field that ties a submitted form to the page that showed it."""
        return str(self._form.dumps(_digest(page_token)))

    def check_form(self, page_token: str, form_token: str) -> None:
        """LinkExpired or LinkInvalid unless ``form_token`` came with this page recently."""
        if self._load(self._form, form_token, FORM_LIFETIME) != _digest(page_token):
            raise LinkInvalid()

    @staticmethod
    def _load(serializer: URLSafeTimedSerializer, token: str, lifetime: timedelta | None) -> Any:
        try:
            if lifetime is None:
                return serializer.loads(token)
            return serializer.loads(token, max_age=int(lifetime.total_seconds()))
        except SignatureExpired:
            raise LinkExpired() from None
        except (BadSignature, ValueError, UnicodeError):
            raise LinkInvalid() from None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _pair(payload: Any, size: int) -> list[str]:
    if not (
        isinstance(payload, list)
        and len(payload) == size
        and all(isinstance(part, str) for part in payload)
    ):
        raise LinkInvalid()
    return payload


def secret_key(links: LinkSettings, *, development: bool) -> str:
    """``NOTIFIER_SECRET_KEY``; in development (on SQLite) without one, a key generated once and
    kept in ``./var/secret_key`` so links survive restarts; ConfigurationError otherwise."""
    if links.secret_key is not None:
        return links.secret_key.get_secret_value()
    if not development:
        raise ConfigurationError(
            "NOTIFIER_SECRET_KEY is required with PostgreSQL: it signs the residents' links"
        )
    return _dev_secret(DEV_SECRET_FILE)


def _dev_secret(path: Path) -> str:
    """Read the development key, creating it atomically (worker and web may race) if absent."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)  # fails if another process got there first; theirs wins
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()
