"""The ``score`` command: help, migrate, verify and rebuild on the embedded default."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, insert, select, update

from services.aggregator.adapters.tables import daily, positions, processed_events
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
        "SCORE_ACCESS_DATABASE_URL",
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


def test_verify_finds_an_event_of_the_log_that_was_never_applied(env: Path) -> None:
    """The rollups can agree with the facts and still be short: verify holds the facts against the log."""
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"]).exit_code == 0
    system = build_system(from_env())
    for i in range(4):
        assert system.post(inspection(enterprise=i + 1)).status_code == 201
    system.sync()
    system.consumer.close()
    good = runner.invoke(main, ["aggregator", "verify", "--caught-up"])
    assert good.exit_code == 0, good.output
    assert "4 applied, 0 duplicates, 0 dead letters, 0 missing, 0 pending" in good.output
    metrics = system.reports.get("/metrics.json").get_json()["log"]
    assert metrics["consistent"] and metrics["partitions"][0]["handled"] == 4

    # as if the third event had been skipped: its effects and its claim are not there, the position is past it
    settings = from_env()
    with make_engine(settings.aggregator_database_url).begin() as conn:
        third = conn.execute(
            select(processed_events.c.event_id).where(processed_events.c.offset == 3)
        ).scalar_one()
        conn.execute(delete(processed_events).where(processed_events.c.event_id == third))
        conn.execute(update(positions).values(applied=positions.c.applied - 1))
    broken = runner.invoke(main, ["aggregator", "verify"])
    assert broken.exit_code == 1
    assert "1 missing" in broken.output and "first missing offsets [3]" in broken.output
    assert "log: 1 gaps" in broken.output
    # the cheap form on /metrics sees the counters disagree with the log
    assert system.reports.get("/metrics.json").get_json()["log"]["consistent"] is False

    # more in the log than applied is lag, not a gap; --caught-up makes it fail too
    with make_engine(settings.aggregator_database_url).begin() as conn:
        conn.execute(insert(processed_events).values(event_id=third, partition=0, offset=3))
        conn.execute(update(positions).values(offset=positions.c.offset - 1, applied=positions.c.applied))
    lagging = runner.invoke(main, ["aggregator", "verify"])
    assert lagging.exit_code == 0, lagging.output
    assert "1 pending" in lagging.output
    assert runner.invoke(main, ["aggregator", "verify", "--caught-up"]).exit_code == 1
