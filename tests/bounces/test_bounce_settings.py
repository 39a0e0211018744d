"""The bounces part of the settings: each rule fails at start-up naming its variable."""

from __future__ import annotations

import pytest

from notifier.errors import ConfigurationError
from notifier.settings import load_settings

KEY = "k" * 32


def test_defaults_are_off_with_a_72_hour_window() -> None:
    """With nothing set there is no bounce intake; the window is 72 hours."""
    bounces = load_settings().bounces
    assert not bounces.enabled and not bounces.listen
    assert bounces.window_seconds == 72 * 3600


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"bounce_listen": "true"}, "NOTIFIER_BOUNCE_KEY is required"),
        ({"bounce_key": "short"}, "NOTIFIER_BOUNCE_KEY"),
        ({"bounce_key": KEY, "bounce_window": "three days"}, "NOTIFIER_BOUNCE_WINDOW"),
        ({"bounce_key": KEY, "bounce_tls_cert_file": "/x.pem"}, "NOTIFIER_BOUNCE_TLS_KEY_FILE"),
        ({"bounce_soft_limit": "0"}, "NOTIFIER_BOUNCE_SOFT_LIMIT"),
        ({"bounce_imap_host": "imap.x"}, "NOTIFIER_BOUNCE_KEY is required"),
        ({"bounce_key": KEY, "bounce_imap_host": "imap.x"}, "NOTIFIER_BOUNCE_IMAP_USERNAME"),
        (
            {"bounce_key": KEY, "bounce_imap_host": "imap.x", "bounce_imap_username": "b"},
            "exactly one",
        ),
        (
            {
                "bounce_key": KEY,
                "bounce_imap_host": "imap.x",
                "bounce_imap_username": "b",
                "bounce_imap_password": "p",
                "bounce_imap_tls": "none",
            },
            "NOTIFIER_BOUNCE_IMAP_TLS",
        ),
    ],
)
def test_broken_bounce_settings_name_their_variable(
    overrides: dict[str, str], variable: str
) -> None:
    """A listener without a key, a short key, a bad window, half a TLS pair, a zero limit; a
    mailbox without a key, a login, exactly one way to log in, or TLS to another machine."""
    with pytest.raises(ConfigurationError, match=variable):
        load_settings(**overrides)


def test_listener_with_a_key_is_enabled() -> None:
    """Key and listener together make a valid configuration."""
    bounces = load_settings(bounce_key=KEY, bounce_listen="true", bounce_window="48h").bounces
    assert bounces.enabled and bounces.listen and bounces.window_seconds == 48 * 3600
