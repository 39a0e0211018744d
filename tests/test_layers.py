"""The layering contracts in pyproject.toml ([tool.importlinter]), run with import-linter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pyproject.toml"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
# Alembic's script directory: env.py and the revisions are loaded by path, never imported.
NOT_PACKAGES = {ROOT / "notifier" / "store" / "migrations"}


def lint_imports(package_parent: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` over the ``notifier`` package found in ``package_parent``."""
    env = {**os.environ, "PYTHONPATH": str(package_parent), "COLUMNS": "200"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(CONFIG)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_the_package_keeps_every_layering_contract(tmp_path: Path) -> None:
    """lint-imports finds every contract kept in the package as it is."""
    result = lint_imports(ROOT, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 broken." in result.stdout


def test_a_forbidden_import_breaks_the_letters_contract(tmp_path: Path) -> None:
    """A copy of the package whose letter renderer imports a channel fails, naming the contract."""
    shutil.copytree(
        ROOT / "notifier", tmp_path / "notifier", ignore=shutil.ignore_patterns("__pycache__")
    )
    with (tmp_path / "notifier" / "letters" / "render.py").open("a") as render:
        render.write("\nimport notifier.channels.base\n")
    result = lint_imports(tmp_path, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Letters: no channels, print house, store or worker BROKEN" in result.stdout
    assert "notifier.letters.render -> notifier.channels.base" in result.stdout
    assert " 1 broken." in result.stdout


def test_every_package_directory_has_an_init_module() -> None:
    """Each directory of Python modules in notifier/ and tests/ is a regular package."""
    missing = [
        str(directory.relative_to(ROOT))
        for top in ("notifier", "tests")
        for directory in [ROOT / top, *(ROOT / top).rglob("*")]
        if directory.is_dir()
        and any(directory.glob("*.py"))
        and not (directory / "__init__.py").exists()
        and not any(directory.is_relative_to(skip) for skip in NOT_PACKAGES)
    ]
    assert missing == []
