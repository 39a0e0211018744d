"""Settings: defaults, validation naming the variable, and docs that match the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.errors import ConfigurationError
from notifier.settings import Settings, load_settings

DOC = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()


def test_every_setting_is_documented() -> None:
    """docs/configuration.md has a row for every NOTIFIER_* variable the code reads."""
    missing = [
        f"NOTIFIER_{name.upper()}"
        for name in Settings.model_fields
        if f"`NOTIFIER_{name.upper()}`" not in DOC
    ]
    assert missing == []


def test_defaults_run_on_a_fresh_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no variables set: SQLite, file outboxes, port 8080."""
    for name in Settings.model_fields:
        monkeypatch.delenv(f"NOTIFIER_{name.upper()}", raising=False)
    settings = load_settings()
    assert settings.is_sqlite and settings.http_port == 8080
    assert settings.public_base_url == "http://127.0.0.1:8080"
    assert settings.retry_delay_seconds == (30, 300, 1800, 7200)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("NOTIFIER_HTTP_PORT", "eighty"),
        ("NOTIFIER_EMAIL_PROVIDER", "pigeon"),
        ("NOTIFIER_RETRY_DELAYS", "30s,soon"),
        ("NOTIFIER_SMTP_TLS", "maybe"),
        ("NOTIFIER_PREFETCH", "0"),
    ],
)
def test_bad_value_fails_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """A bad value is a ConfigurationError whose message names the variable."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert variable in str(caught.value)


def test_twilio_without_credentials_names_the_missing_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Choosing Twilio without an account SID fails at start-up, naming it."""
    monkeypatch.setenv("NOTIFIER_SMS_PROVIDER", "twilio")
    monkeypatch.delenv("NOTIFIER_TWILIO_ACCOUNT_SID", raising=False)
    with pytest.raises(ConfigurationError, match="NOTIFIER_TWILIO_ACCOUNT_SID"):
        load_settings()
