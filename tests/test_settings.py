"""Settings: flat variable names read into parts, defaults, each rule checked once naming the
variable, and docs that match the code."""

from __future__ import annotations

import re
from pathlib import Path

import pydantic
import pytest

from notifier.app import check_notify_councils
from notifier.councils import load_councils
from notifier.errors import ConfigurationError
from notifier.settings import Settings, SmsProvider, load_settings, variables

DOC = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No NOTIFIER_* variable of the machine running the tests leaks into these."""
    for variable in variables():
        monkeypatch.delenv(variable, raising=False)


def test_every_setting_is_documented() -> None:
    """docs/configuration.md has a row for every NOTIFIER_* variable the code reads."""
    assert [v for v in variables() if f"| `{v}` |" not in DOC] == []


def test_every_documented_variable_is_read() -> None:
    """No row in docs/configuration.md names a variable the code no longer reads."""
    documented = re.findall(r"^\| `(NOTIFIER_[A-Z0-9_]+)` \|", DOC, flags=re.MULTILINE)
    assert sorted(documented) == sorted(variables())


def test_defaults_run_on_a_fresh_machine() -> None:
    """With no variables set: SQLite, file outboxes, port 8080."""
    settings = load_settings()
    assert settings.store.is_sqlite and settings.http.port == 8080
    assert settings.http.public_base_url == "http://127.0.0.1:8080"
    assert settings.worker.retry_delay_seconds == (30, 300, 1800, 7200)
    assert settings.worker.max_attempts == 8


@pytest.mark.parametrize(
    ("variable", "value", "part", "attribute", "expected"),
    [
        ("NOTIFIER_PREFETCH", "17", "worker", "prefetch", 17),
        ("NOTIFIER_WORKER_PROCESSES", "3", "worker", "processes", 3),
        ("NOTIFIER_RETRY_DELAYS", "1s, 2m", "worker", "retry_delays", ("1s", "2m")),
        ("NOTIFIER_RETENTION_DAYS", "30", "store", "retention_days", 30),
        ("NOTIFIER_HTTP_HOST", "0.0.0.0", "http", "host", "0.0.0.0"),
        ("NOTIFIER_LINK_DAYS", "10", "links", "days", 10),
        ("NOTIFIER_OUTBOX_DIR", "/tmp/o", "files", "outbox_dir", Path("/tmp/o")),
        ("NOTIFIER_SMTP_HOST", "relay.example.org", "email", "host", "relay.example.org"),
        ("NOTIFIER_TWILIO_FROM", "WarwickDC", "sms", "sender", "WarwickDC"),
        ("NOTIFIER_SPOOL_DIR", "/tmp/s", "letters", "spool_dir", Path("/tmp/s")),
        ("NOTIFIER_PRINT_REPORT_DIR", "reports", "letters", "report_dir", "reports"),
        ("NOTIFIER_LOG_LEVEL", "debug", "logging", "level", "debug"),
    ],
)
def test_flat_variable_reaches_its_part(
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    part: str,
    attribute: str,
    expected: object,
) -> None:
    """Each variable keeps its flat name and lands on its part's attribute."""
    monkeypatch.setenv(variable, value)
    assert getattr(getattr(load_settings(), part), attribute) == expected


def test_override_by_flat_name_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``load_settings(smtp_host=...)`` overrides NOTIFIER_SMTP_HOST; an unknown name is refused."""
    monkeypatch.setenv("NOTIFIER_SMTP_HOST", "from-env")
    assert load_settings(smtp_host="from-test").email.host == "from-test"
    with pytest.raises(TypeError, match="NOTIFIER_SMTP_HOSTNAME"):
        load_settings(smtp_hostname="x")


def test_settings_are_frozen_and_secrets_do_not_print() -> None:
    """Parts cannot be changed after start-up, and a secret never appears in their repr."""
    settings = load_settings(twilio_auth_token="tok-s3cret", amqp_url="amqp://u:pw-s3cret@h/")
    with pytest.raises(pydantic.ValidationError):
        settings.sms.provider = "twilio"  # type: ignore[assignment]
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings)


def test_parts_are_the_settings() -> None:
    """The root holds one part per concern, each part named for it."""
    assert set(Settings.model_fields) == set(Settings.PARTS)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("NOTIFIER_HTTP_PORT", "eighty"),
        ("NOTIFIER_EMAIL_PROVIDER", "pigeon"),
        ("NOTIFIER_RETRY_DELAYS", "30s,soon"),
        ("NOTIFIER_RETRY_DELAYS", ","),
        ("NOTIFIER_SMTP_TLS", "maybe"),
        ("NOTIFIER_PREFETCH", "0"),
        ("NOTIFIER_SMS_ALLOW_FICTION_RANGE", "perhaps"),
        ("NOTIFIER_SECRET_KEY", "short"),
        ("NOTIFIER_LETTER_CUTOFF", "25:00"),
        ("NOTIFIER_PRINT_REPORT_POLL_INTERVAL", "soon"),
        ("NOTIFIER_PRINT_REPORT_POLL_INTERVAL", "0s"),
        ("NOTIFIER_EVIDENCE_URL", "https://evidence.example.net/court"),
        ("NOTIFIER_EVIDENCE_URL", "s3://Evidence_Bucket"),
        ("NOTIFIER_EVIDENCE_URL", "s3://ab"),
        ("NOTIFIER_EVIDENCE_URL", "s3://evidence/court/../other"),
        ("NOTIFIER_EVIDENCE_URL", "s3://evidence?versionId=1"),
        ("NOTIFIER_EVIDENCE_S3_ENDPOINT", "s3.example.net"),
        ("NOTIFIER_EVIDENCE_YEARS", "0"),
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


def test_every_bad_variable_is_named_at_once() -> None:
    """Problems in several parts are reported together, each by its variable."""
    with pytest.raises(ConfigurationError) as caught:
        load_settings(http_port="eighty", letter_provider="folder", sms_provider="twilio")
    message = str(caught.value)
    for variable in ("NOTIFIER_HTTP_PORT", "NOTIFIER_PRINT_DIR", "NOTIFIER_TWILIO_ACCOUNT_SID"):
        assert variable in message


TWILIO = {"sms_provider": "twilio", "twilio_account_sid": "AC" + "0" * 32}
TWILIO_CREDENTIALS = {"twilio_account_sid": "AC" + "0" * 32, "twilio_auth_token": "t"}
SFTP = {"letter_provider": "sftp", "sftp_host": "127.0.0.1", "sftp_username": "u"}


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"sms_provider": "twilio"}, "NOTIFIER_TWILIO_ACCOUNT_SID"),
        (TWILIO, "NOTIFIER_TWILIO_AUTH_TOKEN"),
        ({"letter_provider": "folder"}, "NOTIFIER_PRINT_DIR"),
        ({"letter_provider": "sftp"}, "NOTIFIER_SFTP_HOST"),
        ({"letter_provider": "sftp", "sftp_host": "127.0.0.1"}, "NOTIFIER_SFTP_USERNAME"),
        (SFTP, "NOTIFIER_SFTP_KEY_FILE"),
        ({**SFTP, "sftp_key_file": "/nonexistent/key"}, "NOTIFIER_SFTP_KNOWN_HOSTS"),
        (
            {**SFTP, "sftp_key_file": "/nonexistent/key", "sftp_known_hosts": "/nonexistent/kh"},
            "NOTIFIER_SFTP_KEY_FILE",
        ),
        ({"smtp_dkim_selector": "s1"}, "NOTIFIER_SMTP_DKIM_KEY_FILE"),
        ({"smtp_dkim_key_file": "/etc/dkim.pem"}, "NOTIFIER_SMTP_DKIM_SELECTOR"),
    ],
    ids=[
        "twilio-sid",
        "twilio-token",
        "folder-dir",
        "sftp-host",
        "sftp-username",
        "sftp-key",
        "sftp-known-hosts",
        "sftp-key-missing",
        "dkim-key",
        "dkim-selector",
    ],
)
def test_each_rule_fails_at_start_up_naming_the_variable(
    overrides: dict[str, str], variable: str
) -> None:
    """A provider without what it needs is refused by the settings, naming the variable."""
    with pytest.raises(ConfigurationError, match=variable):
        load_settings(**overrides)


def test_evidence_goes_to_the_folder_unless_a_bucket_is_named(tmp_path: Path) -> None:
    """Unset (or empty) NOTIFIER_EVIDENCE_URL: the folder; s3://bucket/prefix: that bucket and
    prefix, with the endpoint for a service that is not AWS."""
    folder = load_settings(evidence_dir=tmp_path, evidence_url="").store
    assert (folder.evidence_url, folder.evidence_dir, folder.evidence_bucket) == (
        None,
        tmp_path,
        "",
    )
    store = load_settings(
        evidence_url="s3://council.evidence-01/notifier/court/",
        evidence_s3_endpoint="https://s3.example.net:9000",
    ).store
    assert (store.evidence_bucket, store.evidence_prefix) == (
        "council.evidence-01",
        "notifier/court",
    )
    assert store.evidence_s3_endpoint == "https://s3.example.net:9000"
    assert load_settings(evidence_url="s3://council-evidence").store.evidence_prefix == ""


def test_evidence_credentials_are_never_taken_from_a_url() -> None:
    """Keys written into the bucket URL or the endpoint are refused, and not repeated back."""
    for overrides in (
        {"evidence_url": "s3://AKIAEXAMPLE:topsecret@council-evidence"},
        {"evidence_url": "s3://e", "evidence_s3_endpoint": "https://AKIAEXAMPLE:topsecret@s3.x"},
    ):
        with pytest.raises(ConfigurationError) as refused:
            load_settings(**overrides)
        assert "credentials never go in the URL" in str(refused.value)
        assert "topsecret" not in str(refused.value) and "AKIAEXAMPLE" not in str(refused.value)


def test_an_evidence_endpoint_needs_a_bucket() -> None:
    with pytest.raises(ConfigurationError, match="NOTIFIER_EVIDENCE_S3_ENDPOINT is set but"):
        load_settings(evidence_s3_endpoint="https://s3.example.net")


def test_a_provider_with_what_it_needs_is_accepted(tmp_path: Path) -> None:
    """Twilio with its credentials, and a folder print provider with its folder, load."""
    settings = load_settings(**TWILIO, twilio_auth_token="t", print_dir=tmp_path)
    assert settings.sms.auth_token is not None
    assert load_settings(letter_provider="folder", print_dir=tmp_path).letters.print_dir == tmp_path


@pytest.mark.parametrize(
    ("provider", "variable", "allowed"),
    [
        ("outbox", None, True),
        ("twilio", None, False),
        ("outbox", "false", False),
        ("twilio", "true", True),
        ("outbox", "true", True),
        ("twilio", "false", False),
    ],
)
def test_fiction_range_resolves_by_provider_unless_set(
    monkeypatch: pytest.MonkeyPatch, provider: str, variable: str | None, allowed: bool
) -> None:
    """Ofcom's drama numbers: unset, allowed with the outbox (nothing reaches a phone) and
    refused with Twilio; NOTIFIER_SMS_ALLOW_FICTION_RANGE, when set, wins either way."""
    if variable is not None:
        monkeypatch.setenv("NOTIFIER_SMS_ALLOW_FICTION_RANGE", variable)
    settings = load_settings(sms_provider=provider, **TWILIO_CREDENTIALS)
    assert settings.sms.allow_fiction_range is allowed


NOTIFY_KEY = (
    "live-" + "4b2c5f1e-7d1a-4c3b-9a7e-2f6d8e0c1a55" + "-" + "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
)


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"email_provider": "notify"}, "NOTIFIER_NOTIFY_API_KEYS"),
        (
            {"sms_provider": "notify", "notify_api_keys": '{"sdc": "k"}'},
            "NOTIFIER_NOTIFY_SMS_TEMPLATE_IDS",
        ),
        ({"notify_api_keys": "not json"}, "NOTIFIER_NOTIFY_API_KEYS"),
        ({"notify_callback_tokens": '{"sdc": "short"}'}, "NOTIFIER_NOTIFY_CALLBACK_TOKENS"),
        ({"notify_poll_interval": "0s"}, "NOTIFIER_NOTIFY_POLL_INTERVAL"),
        ({**TWILIO_CREDENTIALS, "sms_second_provider": "twilio"}, "NOTIFIER_SMS_SECOND_PROVIDER"),
        ({"sms_second_provider": "notify"}, "NOTIFIER_SMS_SECOND_PROVIDER"),
        ({"sms_failover_window": "0s"}, "NOTIFIER_SMS_FAILOVER_WINDOW"),
        ({"sms_failover_threshold": "1.5"}, "NOTIFIER_SMS_FAILOVER_THRESHOLD"),
    ],
    ids=[
        "notify-key",
        "notify-sms-template",
        "notify-json",
        "notify-token-length",
        "notify-poll",
        "second-same-as-first",
        "second-with-outbox",
        "failover-window",
        "failover-threshold",
    ],
)
def test_each_notify_rule_fails_at_start_up_naming_the_variable(
    overrides: dict[str, str], variable: str
) -> None:
    """Notify and SMS failover without what they need are refused, naming the variable."""
    with pytest.raises(ConfigurationError, match=variable):
        load_settings(**overrides)


def test_twilio_with_notify_second_loads() -> None:
    """Twilio first and Notify second, with a key and a text template, load; both are used."""
    settings = load_settings(
        sms_provider="twilio",
        sms_second_provider="notify",
        **TWILIO_CREDENTIALS,
        notify_api_keys=f'{{"sdc": "{NOTIFY_KEY}"}}',
        notify_sms_template_ids='{"sdc": "t"}',
    )
    assert settings.sms.uses(SmsProvider.TWILIO) and settings.sms.uses(SmsProvider.NOTIFY)
    assert NOTIFY_KEY not in repr(settings)


def test_a_council_without_a_key_fails_when_notify_is_the_only_provider() -> None:
    """With Notify the only email provider, every council needs a key: named at start-up,
    the key itself never printed."""
    settings = load_settings(
        email_provider="notify",
        notify_api_keys=f'{{"sdc": "{NOTIFY_KEY}"}}',
        notify_email_template_ids='{"sdc": "t"}',
    )
    with pytest.raises(ConfigurationError, match=r"no key for wdc") as caught:
        check_notify_councils(settings, load_councils())
    assert NOTIFY_KEY not in str(caught.value)
