"""The one settings object, read from ``NOTIFIER_*`` environment variables, nested by part.

Nothing else in the package reads the environment. ``load_settings()`` builds each part once at
start-up; each part is handed only to what needs it (the SMTP channel gets ``settings.email``, the
print house ``settings.letters``, ...). The variable names stay flat (``NOTIFIER_SMTP_HOST``, not
``NOTIFIER_EMAIL__HOST``), because council systems and deployments are written against them: every
field names its variable in full as its ``validation_alias``, so a search for a variable finds its
field, and pydantic reports a bad value under that name. Every variable is documented in
``docs/configuration.md``; a bad value, or a rule a part breaks, fails at start-up with a message
naming the variable. Each rule is checked here once, by the part it belongs to.
"""

from __future__ import annotations

import json
import re
from datetime import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from notifier.errors import ConfigurationError

_DURATION = re.compile(r"^(\d+)(ms|s|m|h)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
_CLOCK_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
# Amazon S3 User Guide, "General purpose bucket naming rules".
_BUCKET = re.compile(r"(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``30s``, ``5m`` or ``2h``."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"not a duration like 30s, 5m or 2h: {text!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class EmailProvider(StrEnum):
    OUTBOX = "outbox"
    SMTP = "smtp"
    NOTIFY = "notify"


class SmsProvider(StrEnum):
    OUTBOX = "outbox"
    TWILIO = "twilio"
    NOTIFY = "notify"


class LetterProvider(StrEnum):
    OUTBOX = "outbox"
    FOLDER = "folder"
    SFTP = "sftp"
    NOTIFY = "notify"


class Part(BaseSettings):
    """One part of the settings; each field reads the variable its ``validation_alias`` names."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Field name -> the ``NOTIFIER_*`` variable it is read from."""
        return {name: str(field.validation_alias) for name, field in cls.model_fields.items()}


def _required(part: Part, provider: str, *names: str) -> None:
    """ConfigurationError naming the first of ``names`` that is unset."""
    variables = part.variables()
    for name in names:
        if not getattr(part, name):
            raise ConfigurationError(f"{variables[name]} is required when {provider}")


class WorkerSettings(Part):
    """The broker connection and the worker: ``NOTIFIER_AMQP_URL``, ``NOTIFIER_PREFETCH``, ..."""

    amqp_url: SecretStr = Field(
        SecretStr("amqp://guest:guest@127.0.0.1:5672/"), validation_alias="NOTIFIER_AMQP_URL"
    )
    prefetch: int = Field(200, ge=1, le=10_000, validation_alias="NOTIFIER_PREFETCH")
    concurrency: int = Field(200, ge=1, le=10_000, validation_alias="NOTIFIER_CONCURRENCY")
    shutdown_grace: float = Field(30.0, ge=0, validation_alias="NOTIFIER_SHUTDOWN_GRACE")
    retry_delays: Annotated[tuple[str, ...], NoDecode] = Field(
        ("30s", "5m", "30m", "2h"), validation_alias="NOTIFIER_RETRY_DELAYS"
    )
    max_attempts: int = Field(8, ge=1, le=100, validation_alias="NOTIFIER_MAX_ATTEMPTS")
    max_deliveries: int = Field(5, ge=1, le=100, validation_alias="NOTIFIER_MAX_DELIVERIES")
    # Worker processes `notifier run`/`notifier worker` keep running (one per core is typical).
    processes: int = Field(1, ge=1, le=64, validation_alias="NOTIFIER_WORKER_PROCESSES")

    @field_validator("retry_delays", mode="before")
    @classmethod
    def _split_delays(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("retry_delays")
    @classmethod
    def _check_delays(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one delay is needed")
        for delay in value:
            parse_duration(delay)
        return value

    @property
    def retry_delay_seconds(self) -> tuple[float, ...]:
        return tuple(parse_duration(d) for d in self.retry_delays)


class StoreSettings(Part):
    """The database and how long contact details are kept."""

    database_url: SecretStr = Field(
        SecretStr("sqlite+aiosqlite:///./var/notifier.db"), validation_alias="NOTIFIER_DATABASE_URL"
    )
    retention_days: int = Field(7, ge=1, le=3650, validation_alias="NOTIFIER_RETENTION_DAYS")
    # Evidence of service for statutory notices: where, and for how many years (a council's
    # evidence_years in the councils file overrides the years for that council).
    evidence_dir: Path = Field(Path("./var/evidence"), validation_alias="NOTIFIER_EVIDENCE_DIR")
    evidence_years: int = Field(6, ge=1, le=100, validation_alias="NOTIFIER_EVIDENCE_YEARS")
    # s3://bucket/optional/prefix: an S3 bucket instead of the folder (notifier/evidence/s3.py).
    evidence_url: str | None = Field(None, validation_alias="NOTIFIER_EVIDENCE_URL")
    # An S3-compatible service that is not AWS (https://host:port); unset: AWS.
    evidence_s3_endpoint: str | None = Field(None, validation_alias="NOTIFIER_EVIDENCE_S3_ENDPOINT")

    @field_validator("evidence_url")
    @classmethod
    def _check_evidence_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme != "s3" or parts.query or parts.fragment:
            raise ValueError("must be s3://bucket or s3://bucket/prefix")
        if "@" in parts.netloc:
            raise ValueError(
                "credentials never go in the URL: boto3 reads them (AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a role)"
            )
        if not _BUCKET.fullmatch(parts.netloc):
            raise ValueError(
                "not an S3 bucket name (3-63 lowercase letters, digits, dots and hyphens)"
            )
        prefix = parts.path.strip("/")
        if prefix and any(step in ("", ".", "..") for step in prefix.split("/")):
            raise ValueError("the prefix has an empty, '.' or '..' step")
        return value.strip()

    @field_validator("evidence_s3_endpoint")
    @classmethod
    def _check_evidence_endpoint(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an http(s):// URL such as https://s3.example.net")
        if parts.username or parts.password:
            raise ValueError("credentials never go in the URL: boto3 reads them")
        return value.strip()

    @model_validator(mode="after")
    def _check_evidence_store(self) -> Self:
        if self.evidence_s3_endpoint and not self.evidence_url:
            raise ConfigurationError(
                "NOTIFIER_EVIDENCE_S3_ENDPOINT is set but NOTIFIER_EVIDENCE_URL is not"
                " (s3://bucket/prefix)"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.get_secret_value().startswith("sqlite")

    @property
    def evidence_bucket(self) -> str:
        """The bucket of ``NOTIFIER_EVIDENCE_URL`` (empty when evidence goes to the folder)."""
        return urlsplit(self.evidence_url or "").netloc

    @property
    def evidence_prefix(self) -> str:
        """The key prefix of ``NOTIFIER_EVIDENCE_URL``, without its slashes ("" for none)."""
        return urlsplit(self.evidence_url or "").path.strip("/")


class HttpSettings(Part):
    """The HTTP port and the public URL residents and providers reach it by."""

    host: str = Field("127.0.0.1", validation_alias="NOTIFIER_HTTP_HOST")
    port: int = Field(8080, ge=0, le=65535, validation_alias="NOTIFIER_HTTP_PORT")
    public_url: str | None = Field(None, validation_alias="NOTIFIER_PUBLIC_URL")

    @property
    def public_base_url(self) -> str:
        return (self.public_url or f"http://127.0.0.1:{self.port}").rstrip("/")


class LinkSettings(Part):
    """Residents' signed links."""

    # Signs residents' links; generated under ./var on SQLite (notifier.web.tokens).
    secret_key: SecretStr | None = Field(None, validation_alias="NOTIFIER_SECRET_KEY")
    days: int = Field(90, ge=1, le=3650, validation_alias="NOTIFIER_LINK_DAYS")

    @field_validator("secret_key")
    @classmethod
    def _check_secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (for example: openssl rand -hex 32)")
        return value


class FileSettings(Part):
    """The development outboxes, the councils file and the template overrides."""

    outbox_dir: Path = Field(Path("./var/outbox"), validation_alias="NOTIFIER_OUTBOX_DIR")
    councils_file: Path | None = Field(None, validation_alias="NOTIFIER_COUNCILS_FILE")
    template_dir: Path | None = Field(None, validation_alias="NOTIFIER_TEMPLATE_DIR")


class EmailSettings(Part):
    """The email provider and its SMTP relay (``NOTIFIER_EMAIL_PROVIDER``, ``NOTIFIER_SMTP_*``)."""

    provider: EmailProvider = Field(
        EmailProvider.OUTBOX, validation_alias="NOTIFIER_EMAIL_PROVIDER"
    )
    host: str = Field("127.0.0.1", validation_alias="NOTIFIER_SMTP_HOST")
    port: int = Field(25, ge=1, le=65535, validation_alias="NOTIFIER_SMTP_PORT")
    tls: Literal["starttls", "implicit", "none"] = Field(
        "starttls", validation_alias="NOTIFIER_SMTP_TLS"
    )
    username: str | None = Field(None, validation_alias="NOTIFIER_SMTP_USERNAME")
    password: SecretStr | None = Field(None, validation_alias="NOTIFIER_SMTP_PASSWORD")
    timeout: float = Field(30.0, gt=0, validation_alias="NOTIFIER_SMTP_TIMEOUT")
    oauth_token: SecretStr | None = Field(None, validation_alias="NOTIFIER_SMTP_OAUTH_TOKEN")
    oauth_token_command: str | None = Field(
        None, validation_alias="NOTIFIER_SMTP_OAUTH_TOKEN_COMMAND"
    )
    pool_size: int = Field(4, ge=1, le=100, validation_alias="NOTIFIER_SMTP_POOL_SIZE")
    ca_file: Path | None = Field(None, validation_alias="NOTIFIER_SMTP_CA_FILE")
    local_hostname: str | None = Field(None, validation_alias="NOTIFIER_SMTP_LOCAL_HOSTNAME")
    bounce_address: str | None = Field(None, validation_alias="NOTIFIER_SMTP_BOUNCE_ADDRESS")
    dkim_selector: str | None = Field(None, validation_alias="NOTIFIER_SMTP_DKIM_SELECTOR")
    dkim_key_file: Path | None = Field(None, validation_alias="NOTIFIER_SMTP_DKIM_KEY_FILE")

    @model_validator(mode="after")
    def _check_dkim_pair(self) -> Self:
        if bool(self.dkim_key_file) != bool(self.dkim_selector):
            raise ConfigurationError(
                "NOTIFIER_SMTP_DKIM_KEY_FILE and NOTIFIER_SMTP_DKIM_SELECTOR go together"
            )
        return self


class SmsSettings(Part):
    """The text message provider and Twilio (``NOTIFIER_SMS_*``, ``NOTIFIER_TWILIO_*``)."""

    provider: SmsProvider = Field(SmsProvider.OUTBOX, validation_alias="NOTIFIER_SMS_PROVIDER")
    account_sid: str | None = Field(None, validation_alias="NOTIFIER_TWILIO_ACCOUNT_SID")
    auth_token: SecretStr | None = Field(None, validation_alias="NOTIFIER_TWILIO_AUTH_TOKEN")
    sender: str | None = Field(None, validation_alias="NOTIFIER_TWILIO_FROM")
    base_url: str | None = Field(None, validation_alias="NOTIFIER_TWILIO_BASE_URL")
    timeout: float = Field(10.0, gt=0, validation_alias="NOTIFIER_TWILIO_TIMEOUT")
    # Message segments per second for the sender (Twilio's default for an alphanumeric id is 10).
    segments_per_second: float = Field(
        10.0, gt=0, validation_alias="NOTIFIER_TWILIO_SEGMENTS_PER_SECOND"
    )
    # Ofcom's drama range 07700 900000-900999 as set; None (unset) is resolved by the provider:
    # read allow_fiction_range, never this.
    fiction_range: bool | None = Field(None, validation_alias="NOTIFIER_SMS_ALLOW_FICTION_RANGE")
    # The second SMS provider for failover (docs/notify.md, "Text messages over two providers").
    second_provider: SmsProvider | None = Field(
        None, validation_alias="NOTIFIER_SMS_SECOND_PROVIDER"
    )
    failover_window: str = Field("60s", validation_alias="NOTIFIER_SMS_FAILOVER_WINDOW")
    failover_threshold: float = Field(
        0.5, gt=0, le=1, validation_alias="NOTIFIER_SMS_FAILOVER_THRESHOLD"
    )
    failover_min_requests: int = Field(
        5, ge=1, le=10_000, validation_alias="NOTIFIER_SMS_FAILOVER_MIN_REQUESTS"
    )
    failover_slow: str = Field("5s", validation_alias="NOTIFIER_SMS_FAILOVER_SLOW")
    failover_cool_off: str = Field("30s", validation_alias="NOTIFIER_SMS_FAILOVER_COOL_OFF")
    failover_ramp: str = Field("60s", validation_alias="NOTIFIER_SMS_FAILOVER_RAMP")

    @field_validator("failover_window", "failover_slow", "failover_cool_off", "failover_ramp")
    @classmethod
    def _check_failover_durations(cls, value: str) -> str:
        if parse_duration(value) <= 0:
            raise ValueError("must be longer than 0s")
        return value

    @model_validator(mode="after")
    def _check_twilio(self) -> Self:
        providers = {self.provider, self.second_provider}
        if SmsProvider.TWILIO in providers:
            _required(self, "NOTIFIER_SMS_PROVIDER=twilio", "account_sid", "auth_token")
        if self.second_provider is not None and (
            self.second_provider is self.provider or SmsProvider.OUTBOX in providers
        ):
            raise ConfigurationError(
                "NOTIFIER_SMS_SECOND_PROVIDER: must be the other of twilio and notify"
            )
        return self

    def uses(self, provider: SmsProvider) -> bool:
        """Whether ``provider`` sends texts, first or second."""
        return provider in (self.provider, self.second_provider)

    @property
    def allow_fiction_range(self) -> bool:
        """Whether Ofcom's drama numbers are accepted: as set, or when unset only where no text
        can reach a phone (the ``outbox`` provider), so the docs' own examples work there."""
        if self.fiction_range is not None:
            return self.fiction_range
        return self.provider is SmsProvider.OUTBOX


class NotifySettings(Part):
    """GOV.UK Notify: an API key per council, its pass-through templates and ids, the callback
    tokens, and where the API is (``NOTIFIER_NOTIFY_*``; docs/notify.md)."""

    # Council code -> API key, as JSON: {"sdc": "name-<service id>-<secret>"}.
    api_keys: dict[str, SecretStr] = Field(
        default_factory=dict, validation_alias="NOTIFIER_NOTIFY_API_KEYS"
    )
    # Council code -> template id (JSON), each the council's pass-through template.
    email_template_ids: dict[str, str] = Field(
        default_factory=dict, validation_alias="NOTIFIER_NOTIFY_EMAIL_TEMPLATE_IDS"
    )
    sms_template_ids: dict[str, str] = Field(
        default_factory=dict, validation_alias="NOTIFIER_NOTIFY_SMS_TEMPLATE_IDS"
    )
    # Council code -> the id of its reply-to address / text message sender in Notify (optional).
    email_reply_to_ids: dict[str, str] = Field(
        default_factory=dict, validation_alias="NOTIFIER_NOTIFY_EMAIL_REPLY_TO_IDS"
    )
    sms_sender_ids: dict[str, str] = Field(
        default_factory=dict, validation_alias="NOTIFIER_NOTIFY_SMS_SENDER_IDS"
    )
    # Council code -> the bearer token set on its callbacks; a council without one is polled.
    callback_tokens: dict[str, SecretStr] = Field(
        default_factory=dict, validation_alias="NOTIFIER_NOTIFY_CALLBACK_TOKENS"
    )
    base_url: str = Field(
        "https://api.notifications.service.gov.uk", validation_alias="NOTIFIER_NOTIFY_BASE_URL"
    )
    timeout: float = Field(10.0, gt=0, validation_alias="NOTIFIER_NOTIFY_TIMEOUT")
    # Requests in flight to Notify at once, over every council.
    pool_size: int = Field(20, ge=1, le=1000, validation_alias="NOTIFIER_NOTIFY_POOL_SIZE")
    poll_interval: str = Field("5m", validation_alias="NOTIFIER_NOTIFY_POLL_INTERVAL")

    @field_validator(
        "api_keys",
        "email_template_ids",
        "sms_template_ids",
        "email_reply_to_ids",
        "sms_sender_ids",
        "callback_tokens",
        mode="before",
    )
    @classmethod
    def _parse_json(cls, value: object) -> object:
        # The environment's JSON is parsed by pydantic-settings; an override arrives as text.
        if isinstance(value, str):
            try:
                return json.loads(value) if value.strip() else {}
            except json.JSONDecodeError:
                raise ValueError("must be a JSON object keyed by council code") from None
        return value

    @field_validator("callback_tokens")
    @classmethod
    def _check_tokens(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for council, token in value.items():
            if len(token.get_secret_value()) < 16:
                raise ValueError(f"{council}: the token must be at least 16 characters")
        return value

    @field_validator("poll_interval")
    @classmethod
    def _check_poll(cls, value: str) -> str:
        if parse_duration(value) <= 0:
            raise ValueError("must be longer than 0s")
        return value

    @property
    def poll_seconds(self) -> float:
        return parse_duration(self.poll_interval)


def check_notify(notify: NotifySettings, channels: dict[str, bool]) -> None:
    """ConfigurationError when a channel sends through Notify without what it needs: an API key,
    and a pass-through template for email and text, for every council with a key."""
    if not any(channels.values()):
        return
    if not notify.api_keys:
        raise ConfigurationError("NOTIFIER_NOTIFY_API_KEYS is required when a provider is notify")
    variables = notify.variables()
    for channel, field in (("email", "email_template_ids"), ("sms", "sms_template_ids")):
        missing = sorted(set(notify.api_keys) - set(getattr(notify, field)))
        if channels.get(channel) and missing:
            raise ConfigurationError(f"{variables[field]}: no template for {', '.join(missing)}")


class LetterSettings(Part):
    """The letter provider, the spool, the daily cut-off, the print house and its reports."""

    provider: LetterProvider = Field(
        LetterProvider.OUTBOX, validation_alias="NOTIFIER_LETTER_PROVIDER"
    )
    # Rendered letters wait here for the next dispatch (folder and sftp providers).
    spool_dir: Path = Field(Path("./var/spool"), validation_alias="NOTIFIER_SPOOL_DIR")
    # The daily dispatch, HH:MM Europe/London (docs/operations.md, Printed letters).
    cutoff: str = Field("17:30", validation_alias="NOTIFIER_LETTER_CUTOFF")
    print_dir: Path | None = Field(None, validation_alias="NOTIFIER_PRINT_DIR")
    sftp_host: str | None = Field(None, validation_alias="NOTIFIER_SFTP_HOST")
    sftp_port: int = Field(22, ge=1, le=65535, validation_alias="NOTIFIER_SFTP_PORT")
    sftp_username: str | None = Field(None, validation_alias="NOTIFIER_SFTP_USERNAME")
    sftp_key_file: Path | None = Field(None, validation_alias="NOTIFIER_SFTP_KEY_FILE")
    sftp_known_hosts: Path | None = Field(None, validation_alias="NOTIFIER_SFTP_KNOWN_HOSTS")
    sftp_dir: str = Field(".", validation_alias="NOTIFIER_SFTP_DIR")
    sftp_timeout: float = Field(30.0, gt=0, validation_alias="NOTIFIER_SFTP_TIMEOUT")
    # The provider's report files: a local folder (folder) or a directory on the server (sftp).
    report_dir: str | None = Field(None, validation_alias="NOTIFIER_PRINT_REPORT_DIR")
    report_poll_interval: str = Field("5m", validation_alias="NOTIFIER_PRINT_REPORT_POLL_INTERVAL")

    @field_validator("cutoff")
    @classmethod
    def _check_cutoff(cls, value: str) -> str:
        if not _CLOCK_TIME.match(value):
            raise ValueError(f"not a time like 17:30: {value!r}")
        return value

    @field_validator("report_poll_interval")
    @classmethod
    def _check_poll_interval(cls, value: str) -> str:
        if parse_duration(value) <= 0:
            raise ValueError("must be longer than 0s")
        return value

    @model_validator(mode="after")
    def _check_provider(self) -> Self:
        if self.provider is LetterProvider.FOLDER:
            _required(self, "NOTIFIER_LETTER_PROVIDER=folder", "print_dir")
        if self.provider is LetterProvider.SFTP:
            _required(
                self,
                "NOTIFIER_LETTER_PROVIDER=sftp",
                *("sftp_host", "sftp_username", "sftp_key_file", "sftp_known_hosts"),
            )
            for name in ("sftp_key_file", "sftp_known_hosts"):
                path: Path = getattr(self, name)
                if not path.is_file():
                    raise ConfigurationError(f"{self.variables()[name]}: no such file: {path}")
        return self

    @property
    def cutoff_time(self) -> time:
        hours, minutes = self.cutoff.split(":")
        return time(int(hours), int(minutes))

    @property
    def report_poll_seconds(self) -> float:
        return parse_duration(self.report_poll_interval)


class BounceSettings(Part):
    """Bounce and complaint intake (notifier/bounces/): the signed return path, the inbound SMTP
    listener, the IMAP mailbox, and how bounces change a notification."""

    key: SecretStr | None = Field(None, validation_alias="NOTIFIER_BOUNCE_KEY")
    window: str = Field("72h", validation_alias="NOTIFIER_BOUNCE_WINDOW")
    hard_limit: int = Field(1, ge=1, le=100, validation_alias="NOTIFIER_BOUNCE_HARD_LIMIT")
    soft_limit: int = Field(2, ge=1, le=100, validation_alias="NOTIFIER_BOUNCE_SOFT_LIMIT")
    max_size: int = Field(
        10 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024, validation_alias="NOTIFIER_BOUNCE_MAX_SIZE"
    )
    listen: bool = Field(False, validation_alias="NOTIFIER_BOUNCE_LISTEN")
    host: str = Field("127.0.0.1", validation_alias="NOTIFIER_BOUNCE_HOST")
    port: int = Field(2525, ge=0, le=65535, validation_alias="NOTIFIER_BOUNCE_PORT")
    hostname: str | None = Field(None, validation_alias="NOTIFIER_BOUNCE_HOSTNAME")
    tls_cert_file: Path | None = Field(None, validation_alias="NOTIFIER_BOUNCE_TLS_CERT_FILE")
    tls_key_file: Path | None = Field(None, validation_alias="NOTIFIER_BOUNCE_TLS_KEY_FILE")
    imap_host: str | None = Field(None, validation_alias="NOTIFIER_BOUNCE_IMAP_HOST")
    imap_port: int = Field(993, ge=1, le=65535, validation_alias="NOTIFIER_BOUNCE_IMAP_PORT")
    imap_tls: Literal["implicit", "starttls", "none"] = Field(
        "implicit", validation_alias="NOTIFIER_BOUNCE_IMAP_TLS"
    )
    imap_username: str | None = Field(None, validation_alias="NOTIFIER_BOUNCE_IMAP_USERNAME")
    imap_password: SecretStr | None = Field(None, validation_alias="NOTIFIER_BOUNCE_IMAP_PASSWORD")
    imap_oauth: bool = Field(False, validation_alias="NOTIFIER_BOUNCE_IMAP_OAUTH")
    imap_ca_file: Path | None = Field(None, validation_alias="NOTIFIER_BOUNCE_IMAP_CA_FILE")
    imap_folder: str = Field("INBOX", validation_alias="NOTIFIER_BOUNCE_IMAP_FOLDER")
    imap_processed_folder: str = Field(
        "Processed", validation_alias="NOTIFIER_BOUNCE_IMAP_PROCESSED_FOLDER"
    )
    imap_refused_folder: str = Field(
        "Refused", validation_alias="NOTIFIER_BOUNCE_IMAP_REFUSED_FOLDER"
    )
    imap_poll_interval: str = Field("1m", validation_alias="NOTIFIER_BOUNCE_IMAP_POLL_INTERVAL")
    imap_batch: int = Field(50, ge=1, le=1000, validation_alias="NOTIFIER_BOUNCE_IMAP_BATCH")

    @field_validator("key")
    @classmethod
    def _check_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @field_validator("window", "imap_poll_interval")
    @classmethod
    def _check_window(cls, value: str) -> str:
        parse_duration(value)
        return value

    @model_validator(mode="after")
    def _check_listener(self) -> Self:
        if self.listen:
            _required(self, "NOTIFIER_BOUNCE_LISTEN is on", "key")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ConfigurationError(
                "NOTIFIER_BOUNCE_TLS_CERT_FILE and NOTIFIER_BOUNCE_TLS_KEY_FILE go together"
            )
        if self.imap_host:
            _required(self, "NOTIFIER_BOUNCE_IMAP_HOST is set", "key", "imap_username")
            if (self.imap_password is None) == (not self.imap_oauth):
                raise ConfigurationError(
                    "NOTIFIER_BOUNCE_IMAP_PASSWORD or NOTIFIER_BOUNCE_IMAP_OAUTH: exactly one"
                )
            if self.imap_tls == "none" and self.imap_host not in ("127.0.0.1", "localhost"):
                raise ConfigurationError(
                    "NOTIFIER_BOUNCE_IMAP_TLS: credentials are never sent without TLS"
                    " except to this machine"
                )
        return self

    @property
    def enabled(self) -> bool:
        """Whether return paths are signed (and events kept for bounces to continue)."""
        return self.key is not None

    @property
    def window_seconds(self) -> float:
        return parse_duration(self.window)

    @property
    def imap_poll_seconds(self) -> float:
        return parse_duration(self.imap_poll_interval)


class LogSettings(Part):
    """How the structlog lines are written."""

    format: Literal["auto", "json", "console"] = Field(
        "auto", validation_alias="NOTIFIER_LOG_FORMAT"
    )
    level: Literal["debug", "info", "warning", "error"] = Field(
        "info", validation_alias="NOTIFIER_LOG_LEVEL"
    )


class Settings(BaseModel):
    """Everything the service can be told, by part, with the defaults that run it on a fresh
    machine; built once by ``load_settings()``."""

    model_config = ConfigDict(frozen=True)

    PARTS: ClassVar[dict[str, type[Part]]] = {
        "worker": WorkerSettings,
        "store": StoreSettings,
        "http": HttpSettings,
        "links": LinkSettings,
        "files": FileSettings,
        "email": EmailSettings,
        "sms": SmsSettings,
        "letters": LetterSettings,
        "notify": NotifySettings,
        "bounces": BounceSettings,
        "logging": LogSettings,
    }

    worker: WorkerSettings
    store: StoreSettings
    http: HttpSettings
    links: LinkSettings
    files: FileSettings
    email: EmailSettings
    sms: SmsSettings
    letters: LetterSettings
    notify: NotifySettings
    bounces: BounceSettings
    logging: LogSettings

    @model_validator(mode="after")
    def _check_notify(self) -> Self:
        check_notify(
            self.notify,
            {
                "email": self.email.provider is EmailProvider.NOTIFY,
                "sms": self.sms.uses(SmsProvider.NOTIFY),
                "letter": self.letters.provider is LetterProvider.NOTIFY,
            },
        )
        return self


def variables() -> list[str]:
    """Every ``NOTIFIER_*`` variable the settings read."""
    return [name for part in Settings.PARTS.values() for name in part.variables().values()]


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment; a ConfigurationError naming every variable that is wrong.

    ``overrides`` (tests, tools) are keyed by the variable's name without its prefix, in any case:
    ``load_settings(smtp_host="relay", sms_provider="twilio")``; they win over the environment.
    """
    pending = {f"NOTIFIER_{key.upper()}": value for key, value in overrides.items()}
    parts: dict[str, Any] = {}
    problems: list[str] = []
    for name, part in Settings.PARTS.items():
        known = set(part.variables().values())
        given = {variable: pending.pop(variable) for variable in known & pending.keys()}
        try:
            parts[name] = part(**given)
        except ValidationError as exc:
            problems.extend(_describe(error) for error in exc.errors())
        except ConfigurationError as exc:
            problems.append(str(exc))
    if pending:
        raise TypeError(f"no such settings: {', '.join(sorted(pending))}")
    if problems:
        raise ConfigurationError(f"invalid configuration: {'; '.join(problems)}")
    return Settings(**parts)


def _describe(error: Any) -> str:
    """``NOTIFIER_X: message`` for one pydantic error (its location is the variable's name)."""
    variable, *inner = (str(step) for step in error["loc"])
    where = f"[{']['.join(inner)}]" if inner else ""
    return f"{variable}{where}: {error['msg']}"
