"""The one settings object, read from ``NOTIFIER_*`` environment variables.

Nothing else in the package reads the environment. Every field is documented in
``docs/configuration.md``; a bad value fails at start-up with a message naming the variable.
"""

from __future__ import annotations

import re
from datetime import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from notifier.errors import ConfigurationError

_DURATION = re.compile(r"^(\d+)(ms|s|m|h)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
_CLOCK_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``30s``, ``5m`` or ``2h``."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"not a duration like 30s, 5m or 2h: {text!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class EmailProvider(StrEnum):
    OUTBOX = "outbox"
    SMTP = "smtp"


class SmsProvider(StrEnum):
    OUTBOX = "outbox"
    TWILIO = "twilio"


class LetterProvider(StrEnum):
    OUTBOX = "outbox"
    FOLDER = "folder"
    SFTP = "sftp"


class Settings(BaseSettings):
    """Everything the service can be told, with the defaults that run it on a fresh machine."""

    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", frozen=True, extra="ignore")

    # Broker and worker
    amqp_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    prefetch: int = Field(default=200, ge=1, le=10_000)
    concurrency: int = Field(default=200, ge=1, le=10_000)
    shutdown_grace: float = Field(default=30.0, ge=0)
    retry_delays: Annotated[tuple[str, ...], NoDecode] = ("30s", "5m", "30m", "2h")
    max_attempts: int = Field(default=8, ge=1, le=100)
    max_deliveries: int = Field(default=5, ge=1, le=100)
    # Worker processes `notifier run`/`notifier worker` keep running (one per core is typical).
    worker_processes: int = Field(default=1, ge=1, le=64)

    # Store
    database_url: SecretStr = SecretStr("sqlite+aiosqlite:///./var/notifier.db")
    retention_days: int = Field(default=7, ge=1, le=3650)

    # HTTP
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    public_url: str | None = None

    # Preferences and links
    secret_key: SecretStr | None = None  # signs residents' links; generated under ./var on SQLite
    link_days: int = Field(default=90, ge=1, le=3650)

    # Files and catalogue
    outbox_dir: Path = Path("./var/outbox")
    councils_file: Path | None = None
    template_dir: Path | None = None

    # Email
    email_provider: EmailProvider = EmailProvider.OUTBOX
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_tls: Literal["starttls", "implicit", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout: float = Field(default=30.0, gt=0)
    smtp_oauth_token: SecretStr | None = None
    smtp_oauth_token_command: str | None = None
    smtp_pool_size: int = Field(default=4, ge=1, le=100)
    smtp_ca_file: Path | None = None
    smtp_local_hostname: str | None = None
    smtp_bounce_address: str | None = None
    smtp_dkim_selector: str | None = None
    smtp_dkim_key_file: Path | None = None

    # SMS
    sms_provider: SmsProvider = SmsProvider.OUTBOX
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None
    twilio_base_url: str | None = None
    twilio_timeout: float = Field(default=10.0, gt=0)
    # Message segments per second for the sender (Twilio's default for an alphanumeric id is 10).
    twilio_segments_per_second: float = Field(default=10.0, gt=0)
    # Accept Ofcom's drama range 07700 900000-900999: tests and development only.
    sms_allow_fiction_range: bool = False

    # Letters
    letter_provider: LetterProvider = LetterProvider.OUTBOX
    # Rendered letters wait here for the next dispatch (folder and sftp providers).
    spool_dir: Path = Path("./var/spool")
    # The daily dispatch, HH:MM Europe/London (letters.md §6).
    letter_cutoff: str = "17:30"
    print_dir: Path | None = None
    sftp_host: str | None = None
    sftp_port: int = Field(default=22, ge=1, le=65535)
    sftp_username: str | None = None
    sftp_key_file: Path | None = None
    sftp_known_hosts: Path | None = None
    sftp_dir: str = "."
    sftp_timeout: float = Field(default=30.0, gt=0)
    # The provider's report files: a local folder (folder) or a directory on the server (sftp).
    print_report_dir: str | None = None
    print_report_poll_interval: str = "5m"

    # Logging
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

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

    @field_validator("secret_key")
    @classmethod
    def _check_secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (for example: openssl rand -hex 32)")
        return value

    @field_validator("letter_cutoff")
    @classmethod
    def _check_cutoff(cls, value: str) -> str:
        if not _CLOCK_TIME.match(value):
            raise ValueError(f"not a time like 17:30: {value!r}")
        return value

    @field_validator("print_report_poll_interval")
    @classmethod
    def _check_poll_interval(cls, value: str) -> str:
        if parse_duration(value) <= 0:
            raise ValueError("must be longer than 0s")
        return value

    @property
    def letter_cutoff_time(self) -> time:
        hours, minutes = self.letter_cutoff.split(":")
        return time(int(hours), int(minutes))

    @property
    def print_report_poll_seconds(self) -> float:
        return parse_duration(self.print_report_poll_interval)

    @property
    def retry_delay_seconds(self) -> tuple[float, ...]:
        return tuple(parse_duration(d) for d in self.retry_delays)

    @property
    def public_base_url(self) -> str:
        return (self.public_url or f"http://127.0.0.1:{self.http_port}").rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.get_secret_value().startswith("sqlite")

    def check_providers(self) -> None:
        """Fail when a chosen provider lacks what it needs, naming the variable."""
        if self.sms_provider is SmsProvider.TWILIO:
            for name in ("twilio_account_sid", "twilio_auth_token"):
                if not getattr(self, name):
                    raise ConfigurationError(
                        f"NOTIFIER_{name.upper()} is required when NOTIFIER_SMS_PROVIDER=twilio"
                    )
        self._check_letter_provider()

    def _check_letter_provider(self) -> None:
        provider = self.letter_provider
        if provider is LetterProvider.FOLDER and self.print_dir is None:
            raise ConfigurationError(
                "NOTIFIER_PRINT_DIR is required when NOTIFIER_LETTER_PROVIDER=folder"
            )
        if provider is not LetterProvider.SFTP:
            return
        for name in ("sftp_host", "sftp_username", "sftp_key_file", "sftp_known_hosts"):
            if not getattr(self, name):
                raise ConfigurationError(
                    f"NOTIFIER_{name.upper()} is required when NOTIFIER_LETTER_PROVIDER=sftp"
                )
        for name in ("sftp_key_file", "sftp_known_hosts"):
            path: Path = getattr(self, name)
            if not path.is_file():
                raise ConfigurationError(f"NOTIFIER_{name.upper()}: no such file: {path}")


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment (and overrides); a ConfigurationError on failure."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"NOTIFIER_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigurationError(f"invalid configuration: {problems}") from None
    settings.check_providers()
    return settings
