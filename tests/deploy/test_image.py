"""deploy/Dockerfile, checked by structure: no Docker daemon (nor hadolint) is available here
to build or lint it (docs/operations.md, "The image")."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]
DOCKERFILE = (ROOT / "deploy" / "Dockerfile").read_text()
LOCK = (ROOT / "deploy" / "requirements.lock").read_text()


def instructions() -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    found = []
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest))
    return found


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_base_image_is_pinned() -> None:
    """Both stages start from one Python image pinned to a patch release and a Debian suite."""
    args = dict(a.split("=", 1) for i, a in instructions() if i == "ARG" and "=" in a)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", args["PYTHON_IMAGE"])
    froms = [a for i, a in instructions() if i == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]


def test_dependencies_come_from_the_hashed_lock() -> None:
    """pip installs the lock with --require-hashes, then the package with --no-deps; the lock
    pins every runtime dependency of pyproject.toml to one version with a SHA-256."""
    runs = " ".join(a for i, a in instructions() if i == "RUN")
    assert "--require-hashes --no-deps -r requirements.lock" in runs
    assert "pip install --no-deps ." in runs
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\$", LOCK, re.M))
    assert len(re.findall(r"--hash=sha256:[0-9a-f]{64}$", LOCK, re.M)) == len(pins)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    locked = {normalise(n) for n in pins}
    for requirement in project["dependencies"]:
        name = re.split(r"[\[<>=!~ ]", requirement, maxsplit=1)[0]
        assert normalise(name) in locked, name


def test_runs_as_a_non_root_user_with_health_labels_and_fonts() -> None:
    """USER is a numeric non-root uid; a HEALTHCHECK asks /healthz; the OCI source, version and
    revision labels are set; fonts are installed and the package's letter fonts are package
    data; the writable directories are the ones the compose and Kubernetes files mount."""
    [user] = [a for i, a in instructions() if i == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000
    [health] = [a for i, a in instructions() if i == "HEALTHCHECK"]
    assert "/healthz" in health
    labels = " ".join(a for i, a in instructions() if i == "LABEL")
    for key in ("source", "version", "revision", "title"):
        assert f"org.opencontainers.image.{key}=" in labels
    assert "fonts-dejavu-core" in DOCKERFILE
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "letters/fonts/*" in package_data["package-data"]["notifier"]
    assert list((ROOT / "notifier" / "letters" / "fonts").glob("*.ttf"))
    assert "/var/lib/notifier/spool" in DOCKERFILE
    assert "/var/lib/notifier/spool" in (ROOT / "deploy" / "compose.yaml").read_text()
    base = ROOT / "deploy" / "kubernetes" / "base"
    assert "/var/lib/notifier/spool" in (base / "worker.yaml").read_text()


def test_build_context_holds_what_the_dockerfile_copies() -> None:
    """Every COPY source outside another stage is let through by .dockerignore, and ``make
    image`` builds this Dockerfile with the version and revision."""
    allowed = [
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    for instruction, arguments in instructions():
        if instruction == "COPY" and "--from" not in arguments:
            for source in arguments.split()[:-1]:
                assert source.rstrip("/") in allowed, source
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^image:", makefile, re.M)
    assert "docker build -f deploy/Dockerfile" in makefile
    assert "--build-arg VERSION=$(VERSION)" in makefile
