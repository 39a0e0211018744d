"""deploy/compose.yaml, checked by structure (no Compose Specification validator installs
here): every service the docs name, pinned images, health-ordered start, no inline secrets."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
SERVICES = {
    "rabbitmq",
    "postgres",
    "migrate",
    "worker",
    "scheduler",
    "web",
    "prometheus",
    "grafana",
    "mailpit",
}
NOTIFIER_SERVICES = {"migrate", "worker", "scheduler", "web"}
SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|_KEY\b", re.IGNORECASE)
INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def project_version() -> str:
    match = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert match
    return match.group(1)


def test_every_service_is_there_and_the_docs_name_only_those() -> None:
    """The services of the issue are all defined, and every service the one-VM section of
    docs/operations.md names in backticks is one of them."""
    assert set(services()) == SERVICES
    docs = (ROOT / "docs" / "operations.md").read_text()
    section = docs.split("## Bring it up on one VM", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([a-z]+)` service", section))
    assert named, "the one-VM section names no service"
    assert named <= SERVICES


def test_every_image_is_pinned_to_a_version() -> None:
    """No image is untagged or :latest; notifier's own defaults to this package's version."""
    for name, service in services().items():
        image = service["image"]
        default = INTERPOLATION.sub(lambda m: m.group(0).split(":-", 1)[-1].rstrip("}"), image)
        assert ":" in default and not default.endswith(":latest"), (name, image)
        assert re.search(r":v?\d+(\.\d+)+", default), (name, image)
        if name in NOTIFIER_SERVICES:
            assert default == f"notifier:{project_version()}"


def test_start_order_follows_health() -> None:
    """Each dependency is waited for by its health (or, for the migration, its success), and
    every service waited on as healthy has a healthcheck (notifier's comes from the image)."""
    all_services = services()
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "HEALTHCHECK" in dockerfile
    for name, service in all_services.items():
        check = service.get("healthcheck")
        if name == "migrate":
            assert check == {"disable": True}
        elif name not in NOTIFIER_SERVICES:
            assert check and check["test"][0] == "CMD", name
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in all_services, (name, dependency)
            expected = (
                "service_completed_successfully" if dependency == "migrate" else "service_healthy"
            )
            assert condition == {"condition": expected}, (name, dependency)
    for name in ("worker", "scheduler", "web"):
        assert "migrate" in all_services[name]["depends_on"]
        assert "rabbitmq" in all_services[name]["depends_on"]
    assert all_services["migrate"]["command"] == ["notifier", "db", "upgrade"]
    assert all_services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}


def test_the_worker_scales_and_the_jobs_run_once() -> None:
    """The worker has no fixed name or published port (``--scale worker=N`` works) and runs no
    scheduled jobs; one scheduler runs them; the worker stops within its grace period."""
    worker = services()["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert worker["command"] == ["notifier", "run", "--no-jobs"]
    assert services()["scheduler"]["command"] == ["notifier", "run"]
    grace = int(worker["stop_grace_period"].rstrip("s"))
    assert grace > int(worker["environment"]["NOTIFIER_SHUTDOWN_GRACE"]) + 30


def test_no_secret_value_is_inline() -> None:
    """Every password, secret, token or key, and every password inside a URL, comes from the
    env file by interpolation; each such variable is in .env.example, and .env is ignored."""
    example = (DEPLOY / ".env.example").read_text()
    defined = set(re.findall(r"^([A-Z0-9_]+)=", example, re.M))
    required: set[str] = set()
    for name, service in services().items():
        for key, value in (service.get("environment") or {}).items():
            text = str(value)
            if SECRET_NAME.search(key):
                assert INTERPOLATION.fullmatch(text), (name, key)
            for credentials in re.findall(r"://[^/@\s]*:([^@\s]+)@", text):
                assert INTERPOLATION.fullmatch(credentials), (name, key)
            required |= {m.group(1) for m in INTERPOLATION.finditer(text) if ":?" in m.group(0)}
    assert required and required <= defined
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "deploy/.env" in ignored and "deploy/notifier.env" in ignored
    assert "change-me" in example  # placeholders, not values


def test_rabbitmq_has_the_prometheus_plugin_and_quorum_queues() -> None:
    """The broker mounts enabled_plugins with rabbitmq_prometheus and a config making quorum the
    default queue type; Prometheus scrapes the plugin's port."""
    plugins = (DEPLOY / "rabbitmq" / "enabled_plugins").read_text()
    assert "rabbitmq_prometheus" in plugins and plugins.strip().endswith("].")
    config = (DEPLOY / "rabbitmq" / "rabbitmq.conf").read_text()
    assert "default_queue_type = quorum" in config
    mounts = services()["rabbitmq"]["volumes"]
    assert any(
        m.startswith("./rabbitmq/enabled_plugins:/etc/rabbitmq/enabled_plugins") for m in mounts
    )
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = [
        t
        for job in scrape["scrape_configs"]
        for t in job.get("static_configs", [{}])[0].get("targets", [])
    ]
    assert "rabbitmq:15692" in targets


def test_every_mounted_file_exists() -> None:
    """Each ``./`` bind mount names a file or folder in deploy/."""
    for name, service in services().items():
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), (name, source)


def test_prometheus_config_is_valid_with_the_rules(tmp_path: Path) -> None:
    """``promtool check config`` accepts the compose Prometheus configuration, with the rules
    file where the compose file mounts it (here: a copy beside it)."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/prometheus-rules.yml"]
    mounts = services()["prometheus"]["volumes"]
    assert "./prometheus-rules.yml:/etc/prometheus/rules/prometheus-rules.yml:ro" in mounts
    config["rule_files"] = [str(DEPLOY / "prometheus-rules.yml")]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        ["promtool", "check", "config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["notifier"]["dns_sd_configs"][0]["names"] == ["worker", "scheduler", "web"]
