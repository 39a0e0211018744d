"""deploy/kubernetes: the example overlay rendered (tests/deploy/kustomize.py) and every object
validated against the Kubernetes schemas of kubernetes-validate; the KEDA and Prometheus
Operator objects, whose schemas no installable package ships, by the fields we rely on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.deploy.kustomize import Object, render

KUBERNETES = Path(__file__).parents[2] / "deploy" / "kubernetes"
OVERLAY = KUBERNETES / "overlays" / "example"
HPA = KUBERNETES / "hpa"
VERSION = "1.30.0"
CUSTOM = {"keda.sh", "monitoring.coreos.com"}
# The longest send timeout in the ConfigMap's settings, and the grace the worker gives work.
TIMEOUTS = ("NOTIFIER_SMTP_TIMEOUT", "NOTIFIER_TWILIO_TIMEOUT", "NOTIFIER_SFTP_TIMEOUT")


def group(obj: Object) -> str:
    api: str = obj["apiVersion"]
    return api.split("/")[0] if "/" in api else ""


def by_kind(objects: list[Object], kind: str) -> dict[str, Object]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


@pytest.fixture(scope="module")
def rendered() -> list[Object]:
    return render(OVERLAY)


def test_every_standard_object_is_valid_for_kubernetes(rendered: list[Object]) -> None:
    """Each object but the custom resources passes kubernetes-validate's strict schema (unknown
    fields are errors) for Kubernetes 1.30."""
    checked = 0
    for obj in rendered:
        if group(obj) in CUSTOM:
            continue
        kubernetes_validate.validate(obj, VERSION, strict=True)
        checked += 1
    kinds = {o["kind"] for o in rendered}
    assert {
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "PersistentVolumeClaim",
        "Job",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ServiceMonitor",
        "ScaledObject",
        "TriggerAuthentication",
    } <= kinds
    assert checked >= 14


def test_the_overlay_sets_namespace_image_and_its_patches(rendered: list[Object]) -> None:
    """Every namespaced object is in the overlay's namespace, every container runs the
    overlay's image, and its settings and scaling patches are applied."""
    for obj in rendered:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "notifier", obj["metadata"]["name"]
    deployments = by_kind(rendered, "Deployment")
    jobs = by_kind(rendered, "Job")
    for workload in [*deployments.values(), *jobs.values()]:
        for container in workload["spec"]["template"]["spec"]["containers"]:
            assert container["image"] == "registry.example.gov.uk/notifier:0.1.0"
    config = by_kind(rendered, "ConfigMap")["notifier-config"]["data"]
    assert config["NOTIFIER_PUBLIC_URL"].startswith("https://")
    assert config["NOTIFIER_HTTP_HOST"] == "0.0.0.0"  # the base's values stay
    scaled = by_kind(rendered, "ScaledObject")["notifier-worker"]["spec"]
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (3, 30)
    assert scaled["triggers"][0]["metadata"]["queueName"] == "notifier.events"


def test_pods_are_locked_down_and_probed(rendered: list[Object]) -> None:
    """Every pod: its own service account with no token, non-root, read-only root filesystem,
    no privilege escalation, all capabilities dropped, requests and limits; the long-running
    ones are probed on /healthz (liveness, start-up) and /readyz (readiness)."""
    workloads = [*by_kind(rendered, "Deployment").values(), *by_kind(rendered, "Job").values()]
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["serviceAccountName"] == "notifier"
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            assert {"cpu", "memory"} <= set(container["resources"]["requests"])
            assert {"cpu", "memory"} <= set(container["resources"]["limits"])
            if workload["kind"] == "Deployment":
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
                assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    [account] = by_kind(rendered, "ServiceAccount").values()
    assert account["automountServiceAccountToken"] is False


def test_grace_period_outlasts_the_shutdown_grace_and_the_longest_send(
    rendered: list[Object],
) -> None:
    """Each consuming pod's terminationGracePeriodSeconds is above NOTIFIER_SHUTDOWN_GRACE plus
    the longest send timeout, so SIGTERM's clean stop is never cut short by SIGKILL."""
    config = by_kind(rendered, "ConfigMap")["notifier-config"]["data"]
    needed = int(config["NOTIFIER_SHUTDOWN_GRACE"]) + max(int(config[k]) for k in TIMEOUTS)
    deployments = by_kind(rendered, "Deployment")
    for name in ("notifier-worker", "notifier-scheduler"):
        grace = deployments[name]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace > needed, name
    commands = {
        n: d["spec"]["template"]["spec"]["containers"][0]["command"] for n, d in deployments.items()
    }
    assert commands == {
        "notifier-worker": ["notifier", "run", "--no-jobs"],
        "notifier-scheduler": ["notifier", "run"],
        "notifier-web": ["notifier", "web"],
    }
    assert deployments["notifier-scheduler"]["spec"]["replicas"] == 1
    assert deployments["notifier-scheduler"]["spec"]["strategy"]["type"] == "Recreate"
    [job] = by_kind(rendered, "Job").values()
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "notifier",
        "db",
        "upgrade",
    ]


def test_secrets_are_referred_to_never_given(rendered: list[Object]) -> None:
    """No Secret object is rendered; pods take secrets by name (envFrom secretRef, a secret
    volume), and no ConfigMap value looks like a credential."""
    assert "Secret" not in {o["kind"] for o in rendered}
    for workload in [*by_kind(rendered, "Deployment").values(), *by_kind(rendered, "Job").values()]:
        for container in workload["spec"]["template"]["spec"]["containers"]:
            refs = [e.get("secretRef", {}).get("name") for e in container["envFrom"]]
            assert "notifier-secrets" in refs
            assert "env" not in container
    config = by_kind(rendered, "ConfigMap")["notifier-config"]["data"]
    for key, value in config.items():
        assert not any(word in key for word in ("PASSWORD", "TOKEN", "SECRET")), key
        assert "@" not in value, key


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def pod_labels(rendered: list[Object], name: str) -> dict[str, str]:
    labels: dict[str, str] = by_kind(rendered, "Deployment")[name]["spec"]["template"]["metadata"][
        "labels"
    ]
    return labels


def test_services_budgets_and_policies_select_the_pods_they_mean(rendered: list[Object]) -> None:
    """The web Service selects only web pods; the metrics Service every notifier pod; each
    PodDisruptionBudget its Deployment's pods; the network policy all of them, with ingress to
    8080 only and egress on the ports of the broker, database, SMTP, HTTPS and SFTP."""
    services = by_kind(rendered, "Service")
    web, worker = pod_labels(rendered, "notifier-web"), pod_labels(rendered, "notifier-worker")
    assert selects(services["notifier-web"]["spec"]["selector"], web)
    assert not selects(services["notifier-web"]["spec"]["selector"], worker)
    assert all(selects(services["notifier-metrics"]["spec"]["selector"], p) for p in (web, worker))
    budgets = by_kind(rendered, "PodDisruptionBudget")
    assert selects(budgets["notifier-worker"]["spec"]["selector"]["matchLabels"], worker)
    assert selects(budgets["notifier-web"]["spec"]["selector"]["matchLabels"], web)
    policy = by_kind(rendered, "NetworkPolicy")["notifier"]["spec"]
    assert selects(policy["podSelector"]["matchLabels"], worker)
    egress = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
    assert {53, 5672, 5432, 587, 443, 22} <= egress


def test_service_monitor_scrapes_the_metrics_service(rendered: list[Object]) -> None:
    """The ServiceMonitor (monitoring.coreos.com/v1) selects the metrics Service by its labels,
    names a port that Service has, scrapes /metrics, and labels the job as the alerts expect."""
    [monitor] = by_kind(rendered, "ServiceMonitor").values()
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    service = by_kind(rendered, "Service")["notifier-metrics"]
    assert selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert not selects(
        monitor["spec"]["selector"]["matchLabels"],
        by_kind(rendered, "Service")["notifier-web"]["metadata"]["labels"],
    )
    ports = {p["name"] for p in service["spec"]["ports"]}
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] in ports
    assert endpoint["path"] == "/metrics"
    assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/name"
    assert service["metadata"]["labels"]["app.kubernetes.io/name"] == "notifier"


def test_scaled_object_scales_the_worker_on_the_work_queue(rendered: list[Object]) -> None:
    """The ScaledObject (keda.sh/v1alpha1) targets the worker Deployment, with a rabbitmq
    trigger on notifier.events by queue length, a whole-number target, and credentials from a
    TriggerAuthentication that reads the Secret by name."""
    [scaled] = by_kind(rendered, "ScaledObject").values()
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec: dict[str, Any] = scaled["spec"]
    target = spec["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
    assert target["name"] in by_kind(rendered, "Deployment")
    assert target["name"] == "notifier-worker"
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    [trigger] = spec["triggers"]
    assert trigger["type"] == "rabbitmq"
    metadata = trigger["metadata"]
    assert metadata["queueName"] == "notifier.events"
    assert metadata["mode"] == "QueueLength"
    assert metadata["protocol"] in {"http", "amqp"}
    assert isinstance(metadata["value"], str) and int(metadata["value"]) > 0
    assert "host" not in metadata  # the URL carries a password: from the Secret only
    auth = by_kind(rendered, "TriggerAuthentication")[trigger["authenticationRef"]["name"]]
    [ref] = auth["spec"]["secretTargetRef"]
    assert (ref["parameter"], ref["name"]) == ("host", "notifier-secrets")
    assert auth["metadata"]["namespace"] == scaled["metadata"]["namespace"]


def test_hpa_component_replaces_keda_with_cpu_scaling() -> None:
    """An overlay of the base with the hpa component has no KEDA objects and a valid
    autoscaling/v2 HPA on the worker's CPU instead."""
    objects = render(KUBERNETES / "base", components=[HPA])
    kinds = {o["kind"] for o in objects}
    assert not kinds & {"ScaledObject", "TriggerAuthentication"}
    [hpa] = by_kind(objects, "HorizontalPodAutoscaler").values()
    kubernetes_validate.validate(hpa, VERSION, strict=True)
    assert hpa["spec"]["scaleTargetRef"]["name"] == "notifier-worker"
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


def test_the_folders_the_worker_writes_are_volumes_and_the_web_reads_the_evidence(
    rendered: list[Object],
) -> None:
    """With a read-only root filesystem, each folder setting the worker writes to (spool,
    outbox, evidence) must lie on a mounted volume, or every write there fails; the web pods
    serve the evidence endpoint from the same evidence volume, read-only."""
    [config] = by_kind(rendered, "ConfigMap").values()
    deployments = by_kind(rendered, "Deployment")

    def mounts(name: str) -> dict[str, dict[str, Any]]:
        [container] = deployments[name]["spec"]["template"]["spec"]["containers"]
        return {m["mountPath"]: m for m in container["volumeMounts"]}

    worker = mounts("notifier-worker")
    for setting in ("NOTIFIER_SPOOL_DIR", "NOTIFIER_OUTBOX_DIR", "NOTIFIER_EVIDENCE_DIR"):
        folder = Path(config["data"][setting])
        assert any(folder.is_relative_to(path) for path in worker), setting
    evidence = config["data"]["NOTIFIER_EVIDENCE_DIR"]
    web = mounts("notifier-web")
    assert web[evidence]["readOnly"] is True
    assert web[evidence]["name"] == worker[evidence]["name"] == "evidence"
