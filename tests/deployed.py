"""The production commands, read from the systemd units: one source for the container image, the compose file,
the Kubernetes manifests (tests/integration/test_deploy_manifests.py holds them to it) and the tests that start
the processes on bare metal (test_gunicorn, test_prometheus, test_kafka_cluster)."""

from __future__ import annotations

import shlex
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
UNITS = REPO_ROOT / "deploy" / "systemd"
#: where the units expect the project's virtualenv (the container image uses the same path)
VENV_BIN = "/opt/score/.venv/bin/"

#: process -> its unit file
PROCESS_UNITS = {
    "intake": "score-intake.service",
    "reports": "score-reports.service",
    "relay": "score-relay.service",
    "aggregator": "score-aggregator@.service",
}


def unit_command(process: str) -> list[str]:
    """The argv of ``process``'s ExecStart, without the virtualenv's path (``["score", "relay"]``)."""
    text = (UNITS / PROCESS_UNITS[process]).read_text(encoding="utf-8")
    exec_start = next(
        line.split("=", 1)[1].strip() for line in text.splitlines() if line.startswith("ExecStart=")
    )
    assert exec_start.startswith(VENV_BIN), exec_start
    return shlex.split(exec_start[len(VENV_BIN) :])
