"""The ``score`` command line on the embedded default (SQLite files and the outbox as the log) in a test's own
folder, and a system that has taken submissions before the command under test runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from services.cli import main
from services.common.config import from_env
from tests.conftest import System, build_system

#: what would point the command at another database or a broker than the test's own embedded files
SERVERS = (
    "SCORE_INTAKE_DATABASE_URL",
    "SCORE_AGGREGATOR_DATABASE_URL",
    "SCORE_KAFKA_BOOTSTRAP_SERVERS",
    "SCORE_ACCESS_DATABASE_URL",
)


def use_embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *also_unset: str) -> Path:
    """Settings from the environment now name the embedded default under ``tmp_path``, whatever the caller's
    environment holds (``also_unset``: more variables the test wants at their defaults)."""
    monkeypatch.setenv("SCORE_VAR_DIR", str(tmp_path))
    for name in (*SERVERS, *also_unset):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def migrated_with(runner: CliRunner, *submissions: Any) -> System:
    """``score migrate``, then each submission posted (201) and consumed into the rollups; the consumer is
    closed, so the command under test is the one reading the log."""
    migrated = runner.invoke(main, ["migrate"])
    assert migrated.exit_code == 0, migrated.output
    system = build_system(from_env())
    for body in submissions:
        assert system.post(body).status_code == 201
    system.sync()
    system.consumer.close()
    return system
