"""Two ``score aggregator consume`` processes in one consumer group give the exact figures of one."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from services.aggregator.adapters.store import Store
from services.aggregator.service_layer.verify import verify
from tests.builders import inspection, survey
from tests.conftest import build_system, migrated, process_env, real_settings
from tests.servers import kafka_admin_kwargs

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

    env = process_env(settings)
    score = str(Path(sys.executable).parent / "score")
    procs = [
        subprocess.Popen(
            [score, "aggregator", "consume"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
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
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
    system.consumer.close()

    assert system.report("330784")["figures"]["inspections"] == 10
    assert system.report("330000")["figures"]["inspections"] == 30
    assert system.report("330784")["figures"]["worker_survey"]["responses"] == 6
    assert verify(system.aggregator.engine).ok
