"""Smoke tests for the real servers in tests/servers.py.

They prove the plumbing every other integration test relies on: the scripts in deploy/local start a Kafka
broker and a PostgreSQL server from scratch, kafka-python 3 talks to this broker version, data and committed
consumer offsets survive a broker restart and a crash, and fresh per-test databases work.
"""

from __future__ import annotations

import time
import uuid

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from sqlalchemy import create_engine, text

from tests.servers import KafkaBroker, PostgresServer, kafka_admin_kwargs, skip_unless_controllable

# The session-scoped ``kafka_broker`` and ``postgres_server`` fixtures live in tests/conftest.py.


def _create_topic(bootstrap: str, topic: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **kafka_admin_kwargs())
    try:
        admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}})
        # Metadata can lag topic creation on KRaft; wait until the partition has a leader.
        admin.wait_for_topics([topic])
    finally:
        admin.close()


def _consume(
    bootstrap: str, topic: str, group: str, count: int, timeout: float = 30.0
) -> list[ConsumerRecord]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **kafka_admin_kwargs(),
    )
    records: list[ConsumerRecord] = []
    try:
        deadline = time.monotonic() + timeout
        while len(records) < count and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        consumer.commit()
    finally:
        consumer.close()
    return records


def _produce(bootstrap: str, topic: str, key: bytes, value: bytes) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, **kafka_admin_kwargs())
    try:
        producer.send(topic, key=key, value=value, headers=[("ce_id", key)]).get(timeout=30)
    finally:
        producer.close()


@pytest.mark.kafka
def test_kafka_round_trip_survives_restart_and_crash(kafka_broker: KafkaBroker) -> None:
    topic = f"test-servers-{uuid.uuid4().hex[:8]}"
    _create_topic(kafka_broker.bootstrap, topic)
    _produce(kafka_broker.bootstrap, topic, b"event-1", b'{"n": 1}')

    first = _consume(kafka_broker.bootstrap, topic, group="g1", count=1)
    assert [(r.key, r.value) for r in first] == [(b"event-1", b'{"n": 1}')]
    assert first[0].headers == [("ce_id", b"event-1")]

    skip_unless_controllable(kafka_broker)
    kafka_broker.restart()
    # The data survived: a new group reads the message again from the beginning ...
    again = _consume(kafka_broker.bootstrap, topic, group="g2", count=1)
    assert [r.value for r in again] == [b'{"n": 1}']
    # ... and the committed offset survived: g1 resumes after event-1.
    _produce(kafka_broker.bootstrap, topic, b"event-2", b'{"n": 2}')
    resumed = _consume(kafka_broker.bootstrap, topic, group="g1", count=1)
    assert [r.key for r in resumed] == [b"event-2"]

    # A crash (SIGKILL, no clean shutdown) loses nothing that was acknowledged with acks=all.
    kafka_broker.kill()
    kafka_broker.restart()
    after_crash = _consume(kafka_broker.bootstrap, topic, group="g3", count=2)
    assert [r.key for r in after_crash] == [b"event-1", b"event-2"]


@pytest.mark.postgres
def test_postgres_select_one(postgres_server: PostgresServer) -> None:
    assert postgres_server.url.startswith("postgresql+psycopg://")
    engine = create_engine(postgres_server.url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_fresh_database_is_empty_and_separate(postgres_server: PostgresServer) -> None:
    url = postgres_server.fresh_database("test_servers_fresh")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            assert conn.execute(text("SELECT current_database()")).scalar_one() == "test_servers_fresh"
            conn.execute(text("CREATE TABLE t (id int PRIMARY KEY)"))
    finally:
        engine.dispose()
    # Asking again gives an empty database, whatever an earlier (aborted) run left behind.
    engine = create_engine(postgres_server.fresh_database("test_servers_fresh"))
    try:
        with engine.connect() as conn:
            tables = conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"))
            assert tables.scalar_one() == 0
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_restart_keeps_data(postgres_server: PostgresServer) -> None:
    url = postgres_server.fresh_database("test_servers_restart")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (id int PRIMARY KEY)"))
            conn.execute(text("INSERT INTO t VALUES (42)"))
        skip_unless_controllable(postgres_server)
        engine.dispose()
        postgres_server.restart()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT id FROM t")).scalar_one() == 42
    finally:
        engine.dispose()
