"""The relay's pipelined path (batches in flight, reads and marks on threads of their own), on real
PostgreSQL and a real Apache Kafka broker.

- a delivery error midway: the batches acknowledged before it are marked, nothing from the failed batch on
  is, and the next pass sends the rest (a copy at most of what was acknowledged but not marked);
- a row that commits behind rows already sent (positions are not commit order without the advisory lock)
  is found and published in the same pump, once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import MessageSizeTooLargeError
from sqlalchemy import Engine, select

from services.common.config import Settings
from services.common.db import make_engine
from services.common.migrate import upgrade
from services.eventlog import outbox as ob
from services.eventlog.envelope import Event, KafkaRecord
from services.eventlog.kafka import KafkaConnection, KafkaPublisher, ensure_topics
from services.eventlog.relay import Relay
from tests.conftest import real_settings, unique
from tests.servers import KafkaBroker
from tests.topics import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _events(n: int, start: int = 0, pad: int = 0) -> list[Event]:
    """Small events over five keys (so keys repeat within a batch and across partitions)."""
    return [
        Event.new("org.ilo.score.test.v1", "/tests", f"s{i}", f"k{i % 5}", {"i": i, "pad": "x" * pad})
        for i in range(start, start + n)
    ]


def _rows(engine: Engine) -> list[tuple[int, str, str | None]]:
    t = ob.outbox
    with engine.connect() as conn:
        return [
            (r[0], r[1], r[2]) for r in conn.execute(select(t.c.position, t.c.event_id, t.c.published_at))
        ]


def _ids(records: Sequence[Any]) -> Counter[str]:
    return Counter(dict(r.headers)["ce_id"].decode() for r in records)


def _intake_on_the_real_servers(request: pytest.FixtureRequest) -> tuple[Settings, KafkaBroker, Engine]:
    """The real servers' settings, the broker, and the intake's migrated database (where the outbox lives)."""
    settings = real_settings(request)
    broker: KafkaBroker = request.getfixturevalue("kafka_broker")
    engine = make_engine(settings.intake_database_url)
    upgrade("intake", engine)
    return settings, broker, engine


def test_a_delivery_error_midway_leaves_the_rest_unpublished_and_the_next_pass_sends_it(
    request: pytest.FixtureRequest,
) -> None:
    settings, broker, engine = _intake_on_the_real_servers(request)
    # The broker refuses any record over 4 KB on this topic: one big event in the middle of the outbox is a
    # real delivery error (MESSAGE_TOO_LARGE), answered by the broker while later batches are in flight.
    topic = f"score.{unique('big')}.v1"
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, **broker.admin.client_kwargs())
    relay = Relay(
        engine,
        lambda: KafkaPublisher(
            KafkaConnection(broker.bootstrap, broker.admin.client_kwargs()), topic, delivery_timeout_ms=10000
        ),
        batch_size=5,
        window=4,
        holder="pipeline",
    )
    try:
        admin.create_topics(
            {topic: {"num_partitions": 3, "replication_factor": -1, "configs": {"max.message.bytes": "4096"}}}
        )
        admin.wait_for_topics([topic], timeout_ms=30000)
        events = _events(17) + _events(1, start=17, pad=20_000) + _events(43, start=18)
        with engine.begin() as conn:
            ob.append(conn, events)
        with pytest.raises(MessageSizeTooLargeError):
            relay.pump()
        rows = _rows(engine)
        positions = [p for p, _, _ in rows]
        published = sorted(p for p, _, at in rows if at is not None)
        # batches 1-3 (rows 0-14) were acknowledged before the failed 4th (rows 15-19): marked, and nothing
        # after them, though later batches were in flight and may well have been acknowledged
        assert published == sorted(positions)[:15]
        on_topic = _ids(read_topic(broker.bootstrap, topic))
        assert all(on_topic[e.id] == 1 for e in events[:15])
        assert on_topic[events[17].id] == 0

        # the next pass (a new producer, as the relay loop makes after an error) sends everything left
        admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": "1048588"})]
        )
        relay._reset_publisher()
        assert relay.drain(60) == len(events) - 15
        assert all(at is not None for _, _, at in _rows(engine))
        on_topic = _ids(read_topic(broker.bootstrap, topic))
        assert set(on_topic) == {e.id for e in events}  # nothing lost
        assert all(on_topic[e.id] == 1 for e in events[:15])  # marked in the first pass: not sent again
        assert on_topic[events[17].id] == 1  # refused in the first pass, sent once in the second
        assert max(on_topic.values()) <= 2  # at most one copy of what was acknowledged but not marked
    finally:
        admin.close()
        relay._reset_publisher()


class CommitsWhileSending:
    """The real publisher; while the relay sends its second batch, another transaction commits a row whose
    position lies behind every row the relay has read."""

    def __init__(self, inner: KafkaPublisher, commit: Any) -> None:
        self.inner, self.commit, self.calls = inner, commit, 0

    def send_records(self, records: Sequence[KafkaRecord]) -> list[Any]:
        self.calls += 1
        if self.calls == 2:
            self.commit()
        return self.inner.send_records(records)

    def publish(self, events: Sequence[Event]) -> None:
        self.inner.publish(events)

    def close(self) -> None:
        self.inner.close()


def test_a_row_committed_behind_rows_already_sent_goes_in_the_same_pump_once(
    request: pytest.FixtureRequest,
) -> None:
    settings, broker, engine = _intake_on_the_real_servers(request)
    ensure_topics(settings, only=[settings.topic])
    late = _events(1, start=1000)
    # the late row takes its position first and commits last, as a slow intake transaction would
    slow = engine.connect()
    transaction = slow.begin()
    ob.append(slow, late)
    events = _events(20)
    with engine.begin() as conn:
        ob.append(conn, events)
    publisher = CommitsWhileSending(
        KafkaPublisher(KafkaConnection(broker.bootstrap, broker.admin.client_kwargs()), settings.topic),
        transaction.commit,
    )
    # window 1: late rows are looked for every 4 batches of 2, well before the 10 forward batches end
    relay = Relay(engine, lambda: publisher, batch_size=2, window=1, holder="late")
    try:
        assert relay.pump() == 21
        assert publisher.calls >= 2 and not transaction.is_active
        assert relay.backlog() == 0  # the late row went in this pump, not left for the next one
        records = read_topic(broker.bootstrap, settings.topic)
        assert _ids(records) == Counter({e.id: 1 for e in [*late, *events]})
        # and each record is the event's, byte for byte (the relay reads UTF-8 straight from PostgreSQL)
        by_id = {e.id: e for e in [*late, *events]}
        for r in records:
            e = by_id[dict(r.headers)["ce_id"].decode()]
            assert (r.key, r.value, list(r.headers)) == (e.kafka_key(), e.kafka_value(), e.kafka_headers())
    finally:
        slow.close()
        relay._reset_publisher()
