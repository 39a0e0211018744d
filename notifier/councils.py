"""The councils the service sends for, loaded from configuration (a TOML file)."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from notifier.errors import ConfigurationError
from notifier.model import Council


def load_councils(path: Path | None = None) -> dict[str, Council]:
    """Councils from ``path``, or the shipped ``councils.toml`` when no path is given."""
    try:
        if path is None:
            text = resources.files("notifier").joinpath("councils.toml").read_text("utf-8")
        else:
            text = path.read_text("utf-8")
        raw: dict[str, Any] = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"NOTIFIER_COUNCILS_FILE: cannot be read: {exc}") from None
    councils = {}
    for code, table in raw.items():
        try:
            councils[code] = Council(code=code, **{**table, "address": tuple(table["address"])})
        except (TypeError, KeyError) as exc:
            raise ConfigurationError(f"NOTIFIER_COUNCILS_FILE: council {code!r}: {exc}") from None
        _check_evidence_years(code, councils[code].evidence_years)
    if not councils:
        raise ConfigurationError("NOTIFIER_COUNCILS_FILE: no councils configured")
    return councils


def _check_evidence_years(code: str, years: object) -> None:
    """ConfigurationError unless ``evidence_years`` is unset or a whole number from 1 to 100."""
    if years is None:
        return
    if isinstance(years, bool) or not isinstance(years, int) or not 1 <= years <= 100:
        raise ConfigurationError(
            f"NOTIFIER_COUNCILS_FILE: council {code!r}: evidence_years must be a whole number"
            " of years from 1 to 100"
        )
