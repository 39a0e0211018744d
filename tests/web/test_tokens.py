"""Personal links: signed, expiring, bound to one customer, and the development secret."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from notifier.errors import ConfigurationError
from notifier.preferences.model import Preferences
from notifier.settings import load_settings
from notifier.web import tokens
from notifier.web.tokens import LinkExpired, LinkInvalid, Links, Person

ALEX = Preferences(council="sdc", customer_id="SDC-1", stored=True)
SECRET = "s" * 40


def test_page_link_names_its_customer_and_nothing_more() -> None:
    """A preferences link reads back as its council and customer; no contact details in it."""
    links = Links(SECRET, base_url="https://n.example.gov.uk/", lifetime=timedelta(days=90))
    url = links.preferences_link(dataclasses.replace(ALEX, email="alex@example.org"), "waste")
    assert url is not None and url.startswith("https://n.example.gov.uk/preferences/")
    assert links.read_preferences(url.rsplit("/", 1)[1]) == Person("sdc", "SDC-1")
    assert "alex" not in url


def test_tampered_or_foreign_links_are_refused() -> None:
    """A changed character, another secret, or an unsubscribe token on the page all fail."""
    links = Links(SECRET, base_url="https://x", lifetime=timedelta(days=90))
    token = links.preferences_token(ALEX)
    with pytest.raises(LinkInvalid):
        links.read_preferences(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    with pytest.raises(LinkInvalid):
        Links("t" * 40, base_url="https://x", lifetime=timedelta(days=90)).read_preferences(token)
    unsub = links.unsubscribe_link(ALEX, "waste")
    assert unsub is not None
    with pytest.raises(LinkInvalid):
        links.read_preferences(unsub.rsplit("/", 1)[1])


def test_page_links_expire_but_unsubscribe_links_do_not() -> None:
    """Past its lifetime a page link is LinkExpired; one-click unsubscribe still works."""
    links = Links(SECRET, base_url="https://x", lifetime=timedelta(seconds=-1))
    with pytest.raises(LinkExpired):
        links.read_preferences(links.preferences_token(ALEX))
    unsub = links.unsubscribe_link(ALEX, "waste")
    assert unsub is not None
    assert links.read_unsubscribe(unsub.rsplit("/", 1)[1]) == (Person("sdc", "SDC-1"), "waste")


def test_links_only_for_stored_customers_and_unsubscribe_only_over_https() -> None:
    """No link for a customer known only from an event; RFC 8058 needs HTTPS."""
    links = Links(SECRET, base_url="http://127.0.0.1:8080", lifetime=timedelta(days=1))
    assert links.preferences_link(dataclasses.replace(ALEX, stored=False), "waste") is None
    link = links.preferences_link(ALEX, "waste")
    assert link is not None and link.startswith("http://127.0.0.1:8080/preferences/")
    assert links.unsubscribe_link(ALEX, "waste") is None


def test_form_token_belongs_to_its_page() -> None:
    """A form token checks against the page that issued it and no other."""
    links = Links(SECRET, base_url="https://x", lifetime=timedelta(days=1))
    page = links.preferences_token(ALEX)
    links.check_form(page, links.form_token(page))
    other = links.preferences_token(dataclasses.replace(ALEX, customer_id="SDC-2"))
    with pytest.raises(LinkInvalid):
        links.check_form(other, links.form_token(page))


def test_development_secret_is_made_once_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite without NOTIFIER_SECRET_KEY a key is generated under ./var and reused."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NOTIFIER_SECRET_KEY", raising=False)
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'n.db'}")
    first = tokens.secret_key(settings.links, development=settings.store.is_sqlite)
    assert len(first) >= 32 and tokens.secret_key(settings.links, development=True) == first
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o077 == 0


def test_production_needs_a_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL a missing or short NOTIFIER_SECRET_KEY fails at start-up, named."""
    monkeypatch.delenv("NOTIFIER_SECRET_KEY", raising=False)
    settings = load_settings(database_url="postgresql+asyncpg://u@127.0.0.1/n")
    with pytest.raises(ConfigurationError, match="NOTIFIER_SECRET_KEY"):
        tokens.secret_key(settings.links, development=settings.store.is_sqlite)
    with pytest.raises(ConfigurationError, match="NOTIFIER_SECRET_KEY"):
        load_settings(secret_key="short")
