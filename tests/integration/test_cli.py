"""The ``score`` command: help, migrate, verify and rebuild on the embedded default."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from services.aggregator.adapters.tables import daily
from services.cli import main
from services.common.config import from_env
from services.common.db import make_engine
from tests.builders import inspection
from tests.conftest import build_system


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SCORE_VAR_DIR", str(tmp_path))
    for name in (
        "SCORE_INTAKE_DATABASE_URL",
        "SCORE_AGGREGATOR_DATABASE_URL",
        "SCORE_KAFKA_BOOTSTRAP_SERVERS",
    ):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_help_lists_the_commands() -> None:
    out = CliRunner().invoke(main, ["--help"]).output
    for command in ("run", "migrate", "relay", "aggregator"):
        assert command in out
    assert "rebuild" in CliRunner().invoke(main, ["aggregator", "--help"]).output


def test_verify_fails_on_a_tampered_rollup_and_rebuild_mends_it(env: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"]).exit_code == 0
    system = build_system(from_env())
    for i in range(3):
        assert system.post(inspection(enterprise=i + 1)).status_code == 201
    system.sync()
    system.consumer.close()
    assert runner.invoke(main, ["aggregator", "verify"]).exit_code == 0

    with make_engine(from_env().aggregator_database_url).begin() as conn:
        conn.execute(update(daily).where(daily.c.metric == "inspections").values(value=daily.c.value + 1))
    broken = runner.invoke(main, ["aggregator", "verify"])
    assert broken.exit_code == 1
    assert "DIFF daily" in broken.output

    rebuilt = runner.invoke(main, ["aggregator", "rebuild", "--yes"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "3 applied" in rebuilt.output
    assert runner.invoke(main, ["aggregator", "verify"]).exit_code == 0
