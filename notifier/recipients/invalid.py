"""The one error every contact-detail rule raises: a ValueError with a short rule ``code`` for
callers to branch on and wording for people. Neither ever holds the detail itself."""

from __future__ import annotations


class InvalidDetail(ValueError):
    """A contact detail breaks one rule; ``code`` names the rule, ``message`` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
