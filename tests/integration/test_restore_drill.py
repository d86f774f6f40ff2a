"""Restore drills on real PostgreSQL + Kafka, as deploy/README.md ("Backups") describes them.

(a) The aggregator's database is lost entirely: ``score aggregator rebuild`` from the retained submissions
    topic gives the same reports, and ``score aggregator verify`` passes.
(b) The intake's database is restored from a ``pg_dump`` taken mid-load (some outbox rows published, some
    not yet): rows published after the dump come back unmarked and the relay sends them again; the
    aggregator counts them once (same event id); submissions acknowledged after the dump are gone from the
    intake database (but on the topic and in the reports), and posting them again (same submission id)
    restores them without counting them twice.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from services.aggregator.adapters import tables as agg_tables
from services.aggregator.service_layer.verify import reconcile, verify
from services.common.config import Settings
from services.eventlog import outbox as ob
from services.eventlog.kafka import KafkaLogReader, client_security
from tests.builders import inspection, survey
from tests.conftest import System, build_system, migrated, process_env, real_settings
from tests.servers import REPO_ROOT, PostgresServer

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

SCORE = str(REPO_ROOT / ".venv" / "bin" / "score")
DISTRICTS = ("330784", "330700", "330000")


def _libpq(url: str) -> str:
    """pg_dump / pg_restore take a libpq URL, without SQLAlchemy's driver suffix."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _run(args: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    assert proc.returncode == 0, (
        f"{' '.join(args[:3])} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    )
    return proc.stdout


def _recreate(server: PostgresServer, url: str) -> None:
    """The disaster: the database is gone (dropped with its connections), an empty one takes its name."""
    name = url.rsplit("/", 1)[1]
    server.fresh_database(name)


def _reports(system: System) -> dict[str, Any]:
    return {
        f"{d}/{period}": system.report(d, period=period) for d in DISTRICTS for period in ("quarter", "month")
    }


def _inspections(reports: dict[str, Any]) -> Any:
    return reports["330700/quarter"]["figures"]["inspections"]


def _post(system: System, bodies: list[dict[str, Any]]) -> None:
    resp = system.client.post("/api/v1/submissions/batch", json={"submissions": bodies})
    assert resp.status_code == 207, resp.get_json()
    assert resp.get_json()["accepted"] == len(bodies), resp.get_json()


def _load(start: int, n: int) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    for i in range(start, start + n):
        district = "330784" if i % 2 else "330702"
        bodies.append(inspection(district=district, enterprise=i + 1))
        bodies.append(survey(district=district, enterprise=i + 1))
    return bodies


def _topic_ids(settings: Settings) -> Counter[str]:
    reader = KafkaLogReader(
        settings.kafka_bootstrap_servers, settings.topic, security=client_security(settings)
    )
    try:
        return Counter(r.event_id for r in reader.scan() if r.event_id is not None)
    finally:
        reader.close()


@pytest.fixture
def system(request: pytest.FixtureRequest) -> System:
    return build_system(migrated(real_settings(request)))


def test_the_aggregator_rebuilt_from_the_topic_after_losing_its_database(
    system: System, postgres_server: PostgresServer
) -> None:
    settings = system.settings
    _post(system, _load(0, 30))
    system.sync()
    before = _reports(system)
    assert _inspections(before) == 30  # the reports compared below are not empty
    system.consumer.close()

    _recreate(postgres_server, settings.aggregator_database_url)
    env = process_env(settings)
    out = _run([SCORE, "aggregator", "rebuild", "--yes"], env)
    assert "rebuilt: 60 applied, 0 duplicates skipped, 0 dead letters" in out, out
    verified = _run([SCORE, "aggregator", "verify", "--caught-up"], env)
    assert "0 differences" in verified and "log: 0 gaps, 0 pending" in verified, verified

    after = _reports(system)
    assert after == before
    print(
        f"\nrestore drill (a): aggregator database lost, rebuilt from the topic: 60 events, {len(after)} "
        "reports identical, verify passed"
    )


def test_the_intake_restored_from_a_mid_load_dump(
    system: System, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    settings = system.settings
    assert system.relay is not None
    first, unrelayed, late = _load(0, 10), _load(10, 10), _load(20, 10)

    _post(system, first)
    assert system.relay.drain(60) == len(first)
    _post(system, unrelayed)  # acknowledged, in the outbox, not yet on the topic when the dump is taken
    dump = tmp_path / "intake.dump"
    _run(["pg_dump", "--format=custom", f"--file={dump}", f"--dbname={_libpq(settings.intake_database_url)}"])
    assert system.relay.drain(60) == len(unrelayed)  # published after the dump
    _post(system, late)  # acknowledged after the dump
    assert system.relay.drain(60) == len(late)
    system.consumer.run_until_caught_up(120)
    before = _reports(system)
    total = len(first) + len(unrelayed) + len(late)

    # The disaster: the intake database is lost and restored from the dump.
    _recreate(postgres_server, settings.intake_database_url)
    _run(["pg_restore", "--no-owner", f"--dbname={_libpq(settings.intake_database_url)}", str(dump)])

    with system.intake.engine.connect() as conn:
        unpublished = conn.execute(
            select(func.count()).select_from(ob.outbox).where(ob.outbox.c.published_at.is_(None))
        ).scalar_one()
    # The rows published after the dump are unmarked again; the late ones are gone.
    assert unpublished == len(unrelayed)
    for body in late[:3]:
        assert system.client.get(f"/api/v1/submissions/{body['submission_id']}").status_code == 404

    # The relay sends the unmarked rows again: the topic holds them twice, the aggregator counts them once.
    assert system.relay.drain(60) == len(unrelayed)
    system.consumer.run_until_caught_up(120)
    ids = _topic_ids(settings)
    twice = sorted(i for i, n in ids.items() if n == 2)
    assert len(twice) == len(unrelayed) and all(n <= 2 for n in ids.values())
    assert _reports(system) == before

    # What an operator does: the late submissions are on the topic (and in the reports) but not in the intake
    # database; posting them again with their own submission ids stores them (201 again: the restored intake
    # does not know them) and announces them with the same event ids, which the aggregator drops as duplicates.
    _post(system, late)
    assert system.relay.drain(60) == len(late)
    system.consumer.run_until_caught_up(120)
    assert _reports(system) == before
    for body in late[:3]:
        assert system.client.get(f"/api/v1/submissions/{body['submission_id']}").status_code == 200

    report = verify(system.aggregator.engine)
    assert report.ok, report.differences[:5]
    reader = system.aggregator.log_reader()
    try:
        log_report = reconcile(system.aggregator.engine, system.aggregator.source_name, reader.scan())
    finally:
        reader.close()
    assert log_report.ok and log_report.gaps == 0
    with system.aggregator.engine.connect() as conn:
        applied = conn.execute(select(func.count()).select_from(agg_tables.processed_events)).scalar_one()
    on_topic = sum(_topic_ids(settings).values())
    assert applied == total
    assert on_topic == total + len(unrelayed) + len(late)
    system.consumer.close()
    print(
        f"\nrestore drill (b): {total} acknowledged, dump taken with {len(unrelayed)} unpublished; after the "
        f"restore {len(unrelayed)} re-sent and {len(late)} lost from the intake database and re-posted; "
        f"{on_topic} records on the topic, {applied} events applied once, reports identical, 0 lost"
    )
