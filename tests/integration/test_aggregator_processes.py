"""Two ``score aggregator consume`` processes in one consumer group give the exact figures of one."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from sqlalchemy import func, select

from bench.procs import stop_all
from services.aggregator.adapters.store import Store
from services.aggregator.adapters.tables import positions
from services.aggregator.bootstrap import bootstrap
from services.aggregator.service_layer.verify import verify
from services.common.config import Settings
from services.common.db import make_engine
from services.common.migrate import upgrade
from tests.builders import inspection, survey
from tests.conftest import build_system, migrated, process_env, real_settings, unique
from tests.servers import PostgresServer, kafka_admin_kwargs

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _group_members(bootstrap: str, group: str, timeout: float = 30.0) -> int:
    """How many members the group has once it is stable (both processes joined)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **kafka_admin_kwargs())
    try:
        deadline = time.monotonic() + timeout
        while True:
            info = admin.describe_groups([group])[group]
            n = len(info.get("members", []))
            if (info.get("group_state") == "Stable" and n == 2) or time.monotonic() > deadline:
                return n
            time.sleep(0.5)
    finally:
        admin.close()


def test_two_consumer_processes_share_the_partitions_exactly(request: pytest.FixtureRequest) -> None:
    settings = migrated(real_settings(request, partitions=3))
    system = build_system(settings)
    for i in range(30):
        assert (
            system.post(inspection(district=("330784", "330102", "330702")[i % 3], enterprise=i)).status_code
            == 201
        )
    for _ in range(6):
        assert system.post(survey(district="330784")).status_code == 201
    assert system.relay is not None
    system.relay.drain()

    procs = _start_consumers(settings, 2)
    try:
        deadline = time.monotonic() + 90
        while not system.consumer.caught_up():  # reads the positions both processes store
            assert all(p.poll() is None for p in procs), "a consumer process died"
            assert time.monotonic() < deadline, "the two processes did not catch up"
            time.sleep(0.5)
        with system.aggregator.engine.connect() as conn:
            store = Store(conn)
            assert all(store.position(system.aggregator.source_name, p) is not None for p in range(3))
        members = _group_members(settings.kafka_bootstrap_servers, settings.consumer_group)
        assert members == 2, f"expected both processes in the group, saw {members}"
    finally:
        _stop(procs)
    system.consumer.close()

    assert system.report("330784")["figures"]["inspections"] == 10
    assert system.report("330000")["figures"]["inspections"] == 30
    assert system.report("330784")["figures"]["worker_survey"]["responses"] == 6
    assert verify(system.aggregator.engine).ok


def test_two_processes_over_a_busy_topic_equal_one_consumer_replaying_it(
    request: pytest.FixtureRequest,
) -> None:
    """Several ``score aggregator consume`` in one group (README: one per 2-core host, more where there are
    more cores, up to the partitions; ``bench.run --aggregator-processes`` compares them) over a topic
    where every partition writes the same rollup cells (enterprises of every district on every partition,
    batches of thousands in flight at once in both processes): no lost or doubled update, no deadlock
    left unresolved, and the figures a single consumer computes replaying the same topic alone."""
    from bench.aggregator_bench import make_events, produce
    from tests.integration.test_aggregator_scaling import _snapshot

    settings = migrated(real_settings(request, partitions=3))
    events = make_events(6000)
    produce(settings.kafka_bootstrap_servers, settings.topic, events, kafka_admin_kwargs())

    procs = _start_consumers(settings, 2)
    two = bootstrap(settings)
    watcher = two.consumer()  # reads the positions both processes store; never polls
    try:
        deadline = time.monotonic() + 240
        while not watcher.caught_up():
            assert all(p.poll() is None for p in procs), "a consumer process died"
            assert time.monotonic() < deadline, "the two processes did not catch up"
            time.sleep(0.5)
        members = _group_members(settings.kafka_bootstrap_servers, settings.consumer_group)
    finally:
        _stop(procs)
        watcher.close()
    assert members == 2, f"expected both processes in the group, saw {members}"
    with two.engine.connect() as conn:
        counted = conn.execute(
            select(func.sum(positions.c.applied), func.sum(positions.c.dead_letters))
        ).one()
    assert tuple(counted) == (len(events), 0)  # every event applied once: none doubled, none lost
    report = verify(two.engine)
    assert report.ok, report.differences[:5]  # the rollups equal their recomputation from the stored facts

    # one consumer alone, another group, a fresh database, the same topic: the same figures
    pg: PostgresServer = request.getfixturevalue("postgres_server")
    single_settings = dataclasses.replace(
        settings, aggregator_database_url=pg.fresh_database(unique("one")), consumer_group=unique("g-one")
    )
    upgrade("aggregator", make_engine(single_settings.aggregator_database_url))
    one = bootstrap(single_settings)
    single = one.consumer()
    try:
        single.run_until_caught_up(240)
    finally:
        single.close()
    assert single.stats.applied == len(events)
    assert _snapshot(one.engine) == _snapshot(two.engine)


def _start_consumers(settings: Settings, n: int) -> list[subprocess.Popen[bytes]]:
    """``n`` ``score aggregator consume`` processes in one consumer group, as deployed."""
    env = process_env(settings)
    score = str(Path(sys.executable).parent / "score")
    return [
        subprocess.Popen(
            [score, "aggregator", "consume"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        for _ in range(n)
    ]


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Stop the consumer processes as an operator would (SIGINT), killing any that hangs."""
    stop_all(procs, signal.SIGINT)
