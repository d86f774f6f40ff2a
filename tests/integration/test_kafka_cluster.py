"""One broker of a three-node KRaft cluster is killed under load: nothing acknowledged is lost.

The cluster is ``deploy/local/kafka/kafka cluster start`` (three JVMs on this machine, locked like the single
node), the topics are created by ``score migrate``'s code with the production settings
(``SCORE_TOPIC_REPLICATION_FACTOR=3``, ``SCORE_TOPIC_MIN_INSYNC_REPLICAS=2``), and the relay and the
aggregator are the production processes (``score relay``, ``score aggregator consume``) logged in as their
own least-privileged users. While submissions keep arriving, the node leading partition 0 is SIGKILLed: the
relay must keep publishing (acks=all with two of three replicas) and the aggregator keep applying; the node
then returns and must be back in every partition's in-sync replica set. Finally every acknowledged
submission must be on the topic and applied exactly once. The figures are printed (``pytest -s``).
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from services.access import bootstrap as access_bootstrap
from services.aggregator.adapters import tables as agg_tables
from services.common.config import Settings
from services.common.db import make_engine
from services.eventlog import access
from services.eventlog import outbox as ob
from services.eventlog.kafka import KafkaConnection, KafkaLogReader
from services.intake.bootstrap import bootstrap as intake_bootstrap
from services.intake.entrypoints.app import create_app as intake_app
from tests.builders import NOW, inspection, survey
from tests.conftest import UNLIMITED, _start_or_skip, authorize, migrated, operator_token, process_env, unique
from tests.deployed import unit_command
from tests.faults.harness import Process, free_port, score, wait_for
from tests.servers import KafkaCluster, PostgresServer

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def kafka_cluster() -> Iterator[KafkaCluster]:
    where = Path(tempfile.mkdtemp(prefix="score-test-kafka-cluster-"))
    cluster: KafkaCluster = _start_or_skip("Kafka cluster", lambda: KafkaCluster.start(where))
    yield cluster
    cluster.stop()
    shutil.rmtree(where, ignore_errors=True)


def _admin(cluster: KafkaCluster) -> KafkaAdminClient:
    return KafkaAdminClient(
        bootstrap_servers=cluster.bootstrap, request_timeout_ms=10000, **cluster.admin.client_kwargs()
    )


def _partitions(cluster: KafkaCluster, topic: str) -> list[dict[str, Any]]:
    admin = _admin(cluster)
    try:
        (described,) = admin.describe_topics([topic])
    finally:
        admin.close()
    return sorted(
        (
            {
                "partition": p["partition_index"],
                "leader": p["leader_id"],
                "replicas": p["replica_nodes"],
                "isr": p["isr_nodes"],
            }
            for p in described["partitions"]
        ),
        key=lambda p: p["partition"],
    )


def _min_isr(cluster: KafkaCluster, topic: str) -> tuple[str, Any]:
    admin = _admin(cluster)
    try:
        result = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        admin.close()
    return str(_find_config(result, "min.insync.replicas")), result


def _find_config(tree: Any, key: str) -> Any:
    """The value of ``key`` wherever kafka-python's nested answer puts it."""
    if isinstance(tree, dict):
        if key in tree:
            value = tree[key]
            return value.get("value", value) if isinstance(value, dict) else value
        if tree.get("config_names", tree.get("name")) == key:
            return tree.get("config_value", tree.get("value"))
        for item in tree.values():
            found = _find_config(item, key)
            if found is not None:
                return found
    elif isinstance(tree, list | tuple):
        for item in tree:
            found = _find_config(item, key)
            if found is not None:
                return found
    elif hasattr(tree, "resources"):
        return _find_config(tree.resources, key)
    return None


def _scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


class Load(threading.Thread):
    """Posts small batches through the intake without pause, counting what it sent and what was
    acknowledged (accepted with a receipt)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        access = access_bootstrap(settings)
        # a load generator posts far above a person's rate: no rate limit; a credential as the shared tests use
        app = intake_app(
            replace(settings, **UNLIMITED), intake_bootstrap(settings, clock=lambda: NOW), access
        )
        app.config["TESTING"] = True
        self.client = authorize(app, operator_token(access)).test_client()
        self.stop = threading.Event()
        self.sent = 0
        self.acknowledged: list[str] = []
        self.failures: list[str] = []
        self._n = 0

    def run(self) -> None:
        while not self.stop.is_set():
            bodies = []
            for _ in range(5):
                self._n += 1
                district = "330784" if self._n % 2 else "330702"
                make = inspection if self._n % 3 else survey
                bodies.append(make(district=district, enterprise=self._n % 500 + 1))
            self.sent += len(bodies)
            resp = self.client.post("/api/v1/submissions/batch", json={"submissions": bodies})
            if resp.status_code != 207:
                self.failures.append(f"{resp.status_code} {resp.get_data(as_text=True)[:200]}")
                continue
            for body, result in zip(bodies, resp.get_json()["results"], strict=True):
                if result["status"] < 300:
                    self.acknowledged.append(body["submission_id"])
            time.sleep(0.01)  # a steady stream, not a flood: the machine is shared


def test_a_broker_of_three_killed_under_load_loses_nothing(
    kafka_cluster: KafkaCluster, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    name = unique("cl")
    intake_url = postgres_server.fresh_database(f"{name}_i")
    settings = Settings(
        intake_database_url=intake_url,
        aggregator_database_url=postgres_server.fresh_database(f"{name}_a"),
        event_log_url=intake_url,
        kafka_bootstrap_servers=kafka_cluster.bootstrap,
        **kafka_cluster.admin.settings_fields(),
        topic=f"score.{name}.v1",
        dead_letter_topic=f"score.{name}.dlq.v1",
        rollup_topic=f"score.{name}.rollups.v1",
        consumer_group=f"g-{name}",
        topic_partitions=3,
        topic_replication_factor=3,
        topic_min_insync_replicas=2,
    )
    migrated(settings)  # what `score migrate` does: schemas, and the topics with 3 replicas, min ISR 2
    parts = _partitions(kafka_cluster, settings.topic)
    assert [len(p["replicas"]) for p in parts] == [3, 3, 3]
    min_isr, described = _min_isr(kafka_cluster, settings.topic)
    assert min_isr == "2", described
    admin = _admin(kafka_cluster)
    try:  # the cluster's users got their roles on the default topic names; this test's names are its own
        for role in ("relay", "aggregator"):
            access.grant(admin, role, role, settings)
    finally:
        admin.close()

    def env_as(user: str) -> dict[str, str]:
        base = process_env(settings)
        return {**base, **kafka_cluster.login(user).env()}

    # the production commands, as their systemd units (and the container manifests) run them
    relay_argv, consumer_argv = unit_command("relay"), unit_command("aggregator")
    assert relay_argv[0] == consumer_argv[0] == "score"
    relay_port, consumer_port = free_port(), free_port()
    relay_env = {**env_as("relay"), "SCORE_METRICS_PORT": str(relay_port)}
    relay = score("relay", relay_argv[1:], relay_env, tmp_path).start()
    consumer_env = {**env_as("aggregator"), "SCORE_METRICS_PORT": str(consumer_port)}
    consumer = score("aggregator", consumer_argv[1:], consumer_env, tmp_path).start()
    intake = make_engine(settings.intake_database_url)
    aggregator = make_engine(settings.aggregator_database_url)

    def published() -> int:
        with intake.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(ob.outbox).where(ob.outbox.c.published_at.is_not(None))
                ).scalar_one()
            )

    def applied() -> int:
        with aggregator.connect() as conn:
            return int(
                conn.execute(select(func.count()).select_from(agg_tables.processed_events)).scalar_one()
            )

    def alive() -> bool:
        """Raises (ending the wait at once) when a production process died."""
        relay.check_alive()
        consumer.check_alive()
        return True

    load = Load(settings)
    load.start()
    processes: list[Process] = [relay, consumer]
    try:
        wait_for(lambda: alive() and applied() >= 150, 180, "150 events applied before the kill")
        victim = next(p["leader"] for p in _partitions(kafka_cluster, settings.topic) if p["partition"] == 0)
        at_kill = (published(), applied(), len(load.acknowledged))
        killed_at = time.monotonic()
        kafka_cluster.kill(victim)
        # The relay keeps publishing and the aggregator keeps applying with two of three brokers.
        paused = wait_for(lambda: alive() and published() >= at_kill[0] + 100, 120, "publishing on two nodes")
        wait_for(lambda: alive() and applied() >= at_kill[1] + 100, 120, "applying on two nodes")
        during = (published() - at_kill[0], applied() - at_kill[1])
        down_for = time.monotonic() - killed_at

        restart_began = time.monotonic()
        kafka_cluster.restart_missing()
        restart_took = time.monotonic() - restart_began

        def in_sync() -> bool:
            return all(sorted(p["isr"]) == [1, 2, 3] for p in _partitions(kafka_cluster, settings.topic))

        caught_up = wait_for(lambda: alive() and in_sync(), 120, "the returned node back in every ISR")
        wait_for(lambda: len(load.acknowledged) >= at_kill[2] + 300, 120, "more load after the return")
    finally:
        load.stop.set()
        load.join(timeout=60)
    try:
        acknowledged = set(load.acknowledged)
        wait_for(lambda: alive() and published() >= len(acknowledged), 180, "the relay's backlog drained")
        wait_for(lambda: alive() and applied() >= len(acknowledged), 180, "the aggregator caught up")
        # the processes' own counters, as Prometheus scrapes them (SCORE_METRICS_PORT)
        relay_counters = _scrape(relay_port)
        consumer_counters = _scrape(consumer_port)
    finally:
        for p in processes:
            p.stop()

    reader = KafkaLogReader(
        KafkaConnection.from_settings(dataclasses.replace(settings, **kafka_cluster.admin.settings_fields())),
        settings.topic,
    )
    try:
        on_topic = Counter(r.event_id for r in reader.scan() if r.event_id)
    finally:
        reader.close()
    with aggregator.connect() as conn:
        applied_ids = set(conn.execute(select(agg_tables.processed_events.c.event_id)).scalars())
    wanted = {f"{sid}:received" for sid in acknowledged}
    lost_from_topic = wanted - set(on_topic)
    not_applied = wanted - applied_ids
    duplicates = sum(n - 1 for n in on_topic.values())
    assert load.failures == []
    assert not lost_from_topic and not not_applied
    assert applied_ids == set(on_topic)  # nothing applied that the topic does not hold, each once (a set)
    # one relay and one consumer ran throughout: their counters account for everything
    assert relay_counters["score_relay_published_total"] == sum(on_topic.values())
    assert consumer_counters["score_consumer_applied_total"] == len(applied_ids)
    assert consumer_counters["score_consumer_dead_letters_total"] == 0
    print(
        f"\nthree-broker failover: sent {load.sent}, acknowledged {len(acknowledged)}, on the topic "
        f"{len(on_topic)} ({duplicates} re-sent duplicates), applied {len(applied_ids)}, lost 0; node {victim} "
        f"(leader of partition 0) SIGKILLed: next 100 published after {paused:.1f} s, {during[0]} published "
        f"and {during[1]} applied in the {down_for:.1f} s after the kill; restarted in {restart_took:.1f} s "
        f"and back in every partition's ISR {caught_up:.1f} s later; the relay's counter says "
        f"{relay_counters['score_relay_published_total']:.0f} published "
        f"({relay_counters['score_relay_errors_total']:.0f} failed attempts), the consumer's "
        f"{consumer_counters['score_consumer_applied_total']:.0f} applied"
    )
