"""Every metric the service exports is in docs/operations.md's table, with its labels."""

from __future__ import annotations

import re
from pathlib import Path

from notifier.metrics import REGISTRY

OPERATIONS = Path(__file__).parents[1] / "docs" / "operations.md"


def documented() -> dict[str, str]:
    """Metric name -> its labels cell, from the rows of the metrics table."""
    rows = re.findall(r"^\| `(notifier_[a-z_]+)` \|([^|]*)\|", OPERATIONS.read_text(), re.M)
    return dict(rows)


def test_every_metric_is_documented_with_its_labels() -> None:
    """Each metric family in the registry has a row, and the row names each of its labels."""
    table = documented()
    for family in REGISTRY.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        assert name in table, f"{name} missing from docs/operations.md"
        labels = {k for s in family.samples for k in s.labels if k not in ("le", "quantile")}
        for label in labels:
            assert f"`{label}`" in table[name], f"{name}: label {label} not documented"
