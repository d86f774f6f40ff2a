"""Scaling out the aggregator: two consumers of one group share one database and stay exact.

Real servers only (PostgreSQL + Apache Kafka, a topic of 3 partitions): two ``Aggregator.consumer()``
members of the same consumer group, each in its own thread, split the partitions between them and write
into the same aggregator database; the result must equal, table for table and report for report, what one
consumer of another group builds alone in a fresh database from the same topic. A rewind (positions
deleted) replays everything again and changes nothing: every event is counted as a duplicate.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select

from services.aggregator import views
from services.aggregator.adapters.tables import (
    daily,
    daily_members,
    facts,
    hazard_rectifications,
    hazards,
    positions,
)
from services.aggregator.bootstrap import bootstrap
from services.aggregator.service_layer.runner import Consumer
from services.aggregator.service_layer.verify import verify
from services.common.config import Settings
from services.common.db import make_engine
from services.common.migrate import upgrade
from tests.builders import inspection, rectification, survey
from tests.conftest import System, build_system, migrated, real_settings, unique
from tests.servers import PostgresServer

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

DISTRICTS = ["330102", "330106", "330110", "330702", "330782", "330784"]
DAY0 = date(2026, 10, 1)


def _workload(wave: int, n: int) -> tuple[list[dict[str, Any]], list[tuple[str, str, date]]]:
    """``n`` inspections (each with one hazard) spread over districts, enterprises and days, plus a survey
    per inspection; returns the bodies and the hazards to rectify."""
    bodies: list[dict[str, Any]] = []
    hazards_found: list[tuple[str, str, date]] = []
    for i in range(n):
        district = DISTRICTS[i % len(DISTRICTS)]
        day = DAY0 + timedelta(days=(i * 7 + wave) % 50)
        ent = 100 * wave + i % 40
        code = f"FIRE-{i % 7 + 1:02d}"
        body = inspection(
            district,
            ent,
            day,
            [(code, "fire", "major" if i % 5 == 0 else "general", (day + timedelta(days=5)).isoformat())],
            passed=i % 4 + 1,
            industry="C34" if i % 3 else "C33",
        )
        bodies.append(body)
        bodies.append(
            survey(district, ent, day, climate=i % 5 + 1, cooperation=(i + 2) % 5 + 1, injured=i % 9 == 0)
        )
        if i % 2 == 0:
            hazards_found.append((body["submission_id"], code, day + timedelta(days=i % 9)))
    return bodies, hazards_found


def _post_wave(system: System, wave: int, n: int) -> int:
    """Post a wave (inspections, surveys, then rectifications, a correction and reviews); returns the number
    of events it raised."""
    bodies, found = _workload(wave, n)
    rects = [
        rectification(sid, code, on=min(on, date(2026, 11, 27)), district=b["district"])
        for (sid, code, on), b in zip(found, bodies[::4], strict=False)
    ]
    events = 0
    for chunk in [bodies[i : i + 100] for i in range(0, len(bodies), 100)] + [rects]:
        resp = system.client.post("/api/v1/submissions/batch", json={"submissions": chunk})
        assert resp.status_code == 207
        result = resp.get_json()
        assert result["rejected"] == 0, [r for r in result["results"] if r["status"] >= 300][:3]
        events += result["accepted"]
    first = bodies[0]
    correction = inspection(
        first["district"],
        100 * wave,
        date.fromisoformat(first["data"]["inspection_date"]),
        [],
        passed=6,
        industry=first["data"]["enterprise"]["industry"],
        replaces=first["submission_id"],
    )
    assert system.post(correction).status_code == 201
    for body, status in ((bodies[2], "rejected"), (bodies[4], "approved"), (bodies[6], "has_issues")):
        resp = system.client.post(
            f"/api/v1/submissions/{body['submission_id']}/review",
            json={"status": status, "reviewer": "r1", "comment": "核对 / checked"},
        )
        assert resp.status_code in (200, 201), resp.get_json()
    return events + 1 + 3


def _snapshot(engine: Engine) -> dict[str, Any]:
    """Everything the figures are made of, in a comparable form, plus the reports themselves."""
    with engine.connect() as conn:
        tables = {
            "daily": sorted(
                (r.district, str(r.day), r.industry, r.metric, int(r.value))
                for r in conn.execute(select(daily))
                if r.value
            ),
            "members": sorted(
                (r.district, str(r.day), r.industry, r.metric, r.member, int(r._mapping["count"]))
                for r in conn.execute(select(daily_members))
                if r._mapping["count"]
            ),
            "hazards": sorted(
                (r.hazard_id, str(r.found_on), bool(r.counts)) for r in conn.execute(select(hazards))
            ),
            "rectifications": sorted(
                (r.rectification_lineage, r.hazard_id, str(r.rectified_on), bool(r.on_time))
                for r in conn.execute(select(hazard_rectifications))
            ),
            "facts": sorted(
                (r.lineage_id, r.submission_id, r.review_status) for r in conn.execute(select(facts))
            ),
        }
    period = views.period_of("quarter", date(2026, 11, 27))
    tables["reports"] = [
        views.district_report(engine, code, period, industry, date(2026, 11, 27))["figures"]
        for code in ("330000", "330100", "330700", "330784")
        for industry in (None, "C34")
    ]
    return tables


def _run_member(consumer: Consumer, stop: threading.Event, errors: list[str]) -> None:
    """A group member: consume until told to stop and the group has caught up; retry a failed batch."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if stop.is_set() and consumer.caught_up():
            return
        try:
            consumer.step(timeout=0.2)
        except Exception as exc:  # e.g. a deadlock victim: the batch was rolled back and is read again
            errors.append(f"{type(exc).__name__}: {exc}")
    errors.append("member did not finish within 120 s")


def _assigned(consumer: Consumer) -> bool:
    kafka_consumer = getattr(consumer.source, "_consumer", None)
    return bool(kafka_consumer is not None and kafka_consumer.assignment())


@pytest.fixture
def loaded(request: pytest.FixtureRequest) -> Iterator[System]:
    s = build_system(migrated(real_settings(request, partitions=3)))
    yield s
    s.consumer.close()
    if s.relay is not None:
        s.relay._reset_publisher()


def test_two_consumers_of_one_group_equal_a_single_consumer(
    loaded: System, request: pytest.FixtureRequest
) -> None:
    system = loaded
    events = _post_wave(system, 1, 60)
    assert system.relay is not None
    system.relay.drain(60)

    agg = bootstrap(system.settings)
    members = [agg.consumer(), agg.consumer()]
    for m in members:
        m.batch_size = 20  # small batches: the members interleave their transactions
    stop = threading.Event()
    errors: list[str] = []
    threads = [threading.Thread(target=_run_member, args=(m, stop, errors)) for m in members]
    try:
        for t in threads:
            t.start()
        # wait until both members hold partitions, then send a second wave that lands on every partition
        deadline = time.monotonic() + 60
        while not all(_assigned(m) for m in members):
            assert time.monotonic() < deadline, "the two members never shared the partitions"
            time.sleep(0.1)
        events += _post_wave(system, 2, 60)
        system.relay.drain(60)
        stop.set()
        for t in threads:
            t.join(150)
    finally:
        stop.set()
        for m in members:
            m.close()
    assert not [e for e in errors if "did not finish" in e], errors
    # every event applied exactly once across the two members; both did part of the work
    assert sum(m.stats.applied for m in members) == events
    assert all(m.stats.applied > 0 for m in members), [m.stats for m in members]
    assert sum(m.stats.dead_letters for m in members) == 0
    two = _snapshot(agg.engine)
    assert verify(agg.engine).ok

    # one consumer of another group, alone, in a fresh aggregator database, over the same topic
    pg: PostgresServer = request.getfixturevalue("postgres_server")
    single_settings: Settings = dataclasses.replace(
        system.settings,
        aggregator_database_url=pg.fresh_database(unique("single")),
        consumer_group=unique("g-single"),
    )
    upgrade("aggregator", make_engine(single_settings.aggregator_database_url))
    single_agg = bootstrap(single_settings)
    single = single_agg.consumer()
    try:
        single.run_until_caught_up(120)
    finally:
        single.close()
    assert single.stats.applied == events
    assert verify(single_agg.engine).ok
    assert _snapshot(single_agg.engine) == two
    assert two["reports"][0]["inspections"] == 2 * 60 - 2  # the rejected one of each wave does not count


def test_rewound_positions_replay_as_duplicates(loaded: System) -> None:
    system = loaded
    events = _post_wave(system, 1, 30)
    system.sync()
    agg = system.aggregator
    assert system.consumer.stats.applied == events
    before = _snapshot(agg.engine)
    system.consumer.close()

    with agg.engine.begin() as conn:
        conn.execute(delete(positions))  # as if the positions were lost: the whole topic is read again
    again = agg.consumer()
    try:
        again.run_until_caught_up(120)
    finally:
        again.close()
    assert again.stats.applied == 0
    assert again.stats.duplicates == events
    assert _snapshot(agg.engine) == before
    assert verify(agg.engine).ok
    system.consumer = agg.consumer()  # the fixture closes it
