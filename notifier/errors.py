"""The project's exceptions, in one tree.

    NotifierError
    ├── ConfigurationError            settings that cannot work; raised at start-up
    ├── InvalidEvent                  the event can never be processed: dead-letter, never retry
    │     (reason: invalid-json | schema | unknown-event-type | unknown-council
    │              | missing-personalisation | template-error | invalid-send-after
    │              | send-after-too-far)
    ├── DeliveryFailure               one channel could not take one message
    │     ├── PermanentFailure        this recipient can never get it on this channel: fall back
    │     │     └── OptedOut          the resident told the provider to stop (SMS STOP)
    │     ├── TemporaryFailure        recipient-side condition that may clear: retry, then fall back
    │     └── TechnicalFailure        our side or the provider's; ``retryable``: whether to retry
    └── EvidenceError                 the evidence store could not keep or find evidence of service
          ├── EvidenceConflict        other bytes for a notification whose evidence is kept
          └── EvidenceUnavailable     the store refused or could not be reached

Each DeliveryFailure class carries the notification status it leaves behind (``status``).
``outcome_unknown``: the request may have reached the provider (a timeout or a lost connection
after it was sent, a 5xx), so a retry reconciles before sending again (docs/events.md).
Foreign exceptions are mapped to these once, at each adapter's boundary. Messages carry codes and
never personal data (no addresses, numbers, names or message text).
"""

from __future__ import annotations

from typing import ClassVar

from notifier.model import Status


class NotifierError(Exception):
    """Root of every error the package raises on purpose."""


class ConfigurationError(NotifierError):
    """A setting is missing or cannot work; the message names the variable."""


class InvalidEvent(NotifierError):
    """An event that can never be processed; ``reason`` is the short dead-letter code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class EvidenceError(NotifierError):
    """The evidence store (notifier/evidence/) could not keep or find a notice's evidence."""


class EvidenceConflict(EvidenceError):
    """Different bytes for a notification whose evidence is already kept (never overwritten)."""


class EvidenceUnavailable(EvidenceError):
    """The evidence store refused a request or could not be reached; the message names the
    operation and the store's error code, never a key or the evidence itself."""


class DeliveryFailure(NotifierError):
    """A channel could not deliver one message; ``code`` is a short, PII-free reason code."""

    retryable = False
    outcome_unknown = False
    status: ClassVar[Status] = Status.TECHNICAL_FAILURE

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


class PermanentFailure(DeliveryFailure):
    """The recipient can never get this message on this channel."""

    status = Status.PERMANENT_FAILURE


class OptedOut(PermanentFailure):
    """The resident opted out with the provider (replied STOP): their preferences must say so."""

    def __init__(self, code: str = "opted-out", detail: str = "") -> None:
        super().__init__(code, detail)


class TemporaryFailure(DeliveryFailure):
    """A recipient-side condition that may clear; worth retrying."""

    retryable = True
    status = Status.TEMPORARY_FAILURE


class TechnicalFailure(DeliveryFailure):
    """Our side or the provider's; retried unless ``retryable`` is false (e.g. bad credentials).
    ``retry_after``: the fewest seconds worth waiting (a provider's daily limit resets later)."""

    status = Status.TECHNICAL_FAILURE

    def __init__(
        self,
        code: str,
        detail: str = "",
        *,
        retryable: bool = True,
        retry_after: float | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(code, detail)
        self.retryable = retryable
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown
