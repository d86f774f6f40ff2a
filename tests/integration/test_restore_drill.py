"""Restore drills on real PostgreSQL + Kafka, as deploy/README.md ("Backups") describes them.

(a) The aggregator's database is lost entirely: ``score aggregator rebuild`` from the retained submissions
    topic gives the same reports, and ``score aggregator verify`` passes.
(b) The intake's database is restored from a ``pg_dump`` taken while submissions keep arriving and the relay
    lags (some outbox rows published, some not yet): rows published after the dump come back unmarked and
    the relay sends them again; the
    aggregator counts them once (same event id); submissions acknowledged after the dump are gone from the
    intake database (but on the topic and in the reports), and posting them again (same submission id)
    restores them without counting them twice.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.aggregator.adapters import tables as agg_tables
from services.aggregator.service_layer.verify import reconcile, verify
from services.common.config import Settings
from services.eventlog import outbox as ob
from services.eventlog.kafka import KafkaConnection, KafkaLogReader
from services.intake.entrypoints.app import create_app as intake_app
from tests.builders import inspection, survey
from tests.conftest import System, authorize, build_system, migrated, process_env, real_settings
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
    reader = KafkaLogReader(KafkaConnection.from_settings(settings), settings.topic)
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


class _Load(threading.Thread):
    """Keeps posting small batches through the intake, remembering each acknowledged submission's body."""

    def __init__(self, system: System, start: int) -> None:
        super().__init__(daemon=True)
        app = intake_app(system.settings, system.intake, system.access)
        app.config["TESTING"] = True
        self.client = authorize(app, system.token).test_client()
        self.stop = threading.Event()
        self.acknowledged: dict[str, dict[str, Any]] = {}
        self.failures: list[str] = []
        self._next = start

    def run(self) -> None:
        while not self.stop.is_set():
            bodies = _load(self._next, 1)
            self._next += 1
            resp = self.client.post("/api/v1/submissions/batch", json={"submissions": bodies})
            if resp.status_code != 207:
                self.failures.append(f"{resp.status_code}: {resp.get_data(as_text=True)[:200]}")
                continue
            for body, result in zip(bodies, resp.get_json()["results"], strict=True):
                if result["status"] < 300:
                    self.acknowledged[body["submission_id"]] = body
            time.sleep(0.005)


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.05)


def test_the_intake_restored_from_a_dump_taken_mid_load(
    system: System, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    settings = system.settings
    relay = system.relay
    assert relay is not None
    first = _load(0, 10)
    _post(system, first)
    assert relay.drain(60) == len(first)

    load = _Load(system, start=100)
    load.start()
    relay_stop = threading.Event()
    relaying = threading.Thread(target=relay.run_forever, args=(relay_stop, 0.05), daemon=True)
    relaying.start()
    try:
        _wait(lambda: len(load.acknowledged) >= 30, 120, "30 submissions under load")
        # The relay falls behind (stopped here, as when Kafka is slow), so the dump holds unpublished rows.
        relay_stop.set()
        relaying.join(timeout=60)
        backlog_from = len(load.acknowledged)
        _wait(lambda: len(load.acknowledged) >= backlog_from + 10, 120, "a backlog")
        dump = tmp_path / "intake.dump"
        # pg_dump while the intake keeps accepting: one consistent snapshot of a moving database
        _run(
            [
                "pg_dump",
                "--format=custom",
                f"--file={dump}",
                f"--dbname={_libpq(settings.intake_database_url)}",
            ]
        )
        after_dump = len(load.acknowledged)
        _wait(lambda: len(load.acknowledged) >= after_dump + 20, 120, "20 acknowledged after the dump")
    finally:
        load.stop.set()
        relay_stop.set()
        load.join(timeout=60)
    assert load.failures == []
    relay.drain(120)
    system.consumer.run_until_caught_up(180)
    before = _reports(system)
    acknowledged = {f"{sid}:received" for sid in [*load.acknowledged, *(b["submission_id"] for b in first)]}
    total = len(first) + len(load.acknowledged)

    # The disaster: the intake database is lost and restored from the dump.
    _recreate(postgres_server, settings.intake_database_url)
    _run(["pg_restore", "--no-owner", f"--dbname={_libpq(settings.intake_database_url)}", str(dump)])
    # the services are restarted onto the restored database: no connection of the lost one is reused (a pooled
    # connection is pinged only after it idled, so one killed by the drop would fail its first use)
    system.intake.engine.dispose()
    with system.intake.engine.connect() as conn:
        restored = set(conn.execute(select(ob.outbox.c.event_id)).scalars())
        unmarked = set(
            conn.execute(select(ob.outbox.c.event_id).where(ob.outbox.c.published_at.is_(None))).scalars()
        )
    lost = {sid for sid in load.acknowledged if f"{sid}:received" not in restored}
    # what the dump's snapshot held: the rows unpublished then (published since), and not the later ones
    assert len(unmarked) >= 10 and len(lost) >= 20
    assert restored <= {*acknowledged} and len(restored) + len(lost) == total
    for sid in sorted(lost)[:3]:
        assert system.client.get(f"/api/v1/submissions/{sid}").status_code == 404

    # The relay sends the unmarked rows again: the topic holds them twice, the aggregator counts them once.
    assert relay.drain(60) == len(unmarked)
    system.consumer.run_until_caught_up(120)
    ids = _topic_ids(settings)
    assert {i for i, n in ids.items() if n == 2} == unmarked and max(ids.values()) == 2
    assert _reports(system) == before

    # What an operator does: the lost submissions are on the topic (and in the reports) but not in the intake
    # database; posting them again with their own submission ids stores them (201 again: the restored intake
    # does not know them) and announces them under the same event ids, which the aggregator drops.
    again = [load.acknowledged[sid] for sid in sorted(lost)]
    for start in range(0, len(again), 50):
        chunk = again[start : start + 50]
        resp = system.client.post("/api/v1/submissions/batch", json={"submissions": chunk})
        assert resp.status_code == 207 and [r["status"] for r in resp.get_json()["results"]] == [201] * len(
            chunk
        )
    assert relay.drain(60) == len(lost)
    system.consumer.run_until_caught_up(120)
    assert _reports(system) == before
    for sid in sorted(lost)[:3]:
        assert system.client.get(f"/api/v1/submissions/{sid}").status_code == 200

    report = verify(system.aggregator.engine)
    assert report.ok, report.differences[:5]
    reader = system.aggregator.log_reader()
    try:
        log_report = reconcile(system.aggregator.engine, system.aggregator.source_name, reader.scan())
    finally:
        reader.close()
    assert log_report.ok and log_report.gaps == 0
    with system.aggregator.engine.connect() as conn:
        applied = set(conn.execute(select(agg_tables.processed_events.c.event_id)).scalars())
    on_topic = sum(_topic_ids(settings).values())
    assert applied == acknowledged
    assert on_topic == total + len(unmarked) + len(lost)
    system.consumer.close()
    print(
        f"\nrestore drill (b): {total} acknowledged; the dump, taken under load, held {len(restored)} of them, "
        f"{len(unmarked)} unpublished; after the restore {len(unmarked)} re-sent (counted once) and {len(lost)} "
        f"lost from the intake database and re-posted; {on_topic} records on the topic, {len(applied)} events "
        "applied once, reports identical, 0 lost"
    )
