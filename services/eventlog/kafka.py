"""Apache Kafka adapters (kafka-python 3): topics, the relay's producer and the consumer's source."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import TopicAlreadyExistsError

from services.common.config import Settings
from services.eventlog.envelope import Event, MalformedEvent, from_kafka
from services.eventlog.source import Delivery, PositionOf

log = logging.getLogger(__name__)


def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> None:
    """Create the project's topics if missing.

    Submission events are kept for ever (``retention.ms=-1``) so any consumer can rebuild from the start; the
    rollup topic is compacted (latest value per district+period key).
    """
    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, client_id="score-admin", request_timeout_ms=30000
    )
    try:
        wanted: dict[str, dict[str, Any]] = {
            settings.topic: {
                "num_partitions": settings.topic_partitions,
                "replication_factor": -1,
                "configs": {"retention.ms": str(settings.topic_retention_ms), "retention.bytes": "-1"},
            },
            settings.dead_letter_topic: {
                "num_partitions": 1,
                "replication_factor": -1,
                "configs": {"retention.ms": "-1"},
            },
            settings.rollup_topic: {
                "num_partitions": settings.topic_partitions,
                "replication_factor": -1,
                "configs": {"cleanup.policy": "compact"},
            },
        }
        existing = set(admin.list_topics())
        missing = {name: spec for name, spec in wanted.items() if name not in existing}
        if missing:
            try:
                admin.create_topics(missing, timeout_ms=int(timeout_s * 1000))
            except TopicAlreadyExistsError:
                pass  # another process won the race; that is fine
        admin.wait_for_topics(list(wanted), timeout_ms=int(timeout_s * 1000))
    finally:
        admin.close()


class KafkaPublisher:
    """Idempotent producer (acks=all): ``publish`` returns only when every record was acknowledged."""

    def __init__(self, bootstrap_servers: str, topic: str, delivery_timeout_ms: int = 20000) -> None:
        self.topic = topic
        linger_ms = 5
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id="score-relay",
            acks="all",
            enable_idempotence=True,
            max_in_flight_requests_per_connection=5,  # idempotence keeps per-partition order with 5 in flight
            linger_ms=linger_ms,
            compression_type=None,
            # Shorter than the relay lease, so a stalled relay gives up before another may take over.
            delivery_timeout_ms=delivery_timeout_ms,
            # kafka-python requires delivery_timeout_ms >= linger_ms + request_timeout_ms.
            request_timeout_ms=min(10000, delivery_timeout_ms - linger_ms),
            # Bounded waits for a broker that is down: start-up, metadata and delivery together stay well
            # inside the relay's 60 s lease (10 + 10 + 20 s).
            bootstrap_timeout_ms=10000,
            max_block_ms=10000,
            reconnect_backoff_max_ms=2000,
        )

    def publish(self, events: Sequence[Event], topic: str | None = None) -> None:
        futures = [
            self._producer.send(
                topic or self.topic, key=e.kafka_key(), value=e.kafka_value(), headers=e.kafka_headers()
            )
            for e in events
        ]
        self._producer.flush()
        for f in futures:
            f.get(timeout=0)  # raises the delivery error, if any

    def close(self) -> None:
        self._producer.close(timeout=5)


class DeadLetterPublisher:
    """Copies records a consumer could not apply to the dead-letter topic, as received, with the reason.

    The original key, value and CloudEvents headers are kept; ``score_dlq_reason``, ``score_dlq_source``,
    ``score_dlq_partition`` and ``score_dlq_offset`` headers say why and where from.
    """

    def __init__(self, bootstrap_servers: str, topic: str, consumer: str) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._consumer = consumer
        self._producer: KafkaProducer | None = None

    def send(self, rejected: Sequence[tuple[Delivery, str]]) -> None:
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self._bootstrap, client_id="score-dlq", acks="all"
            )
        for d, reason in rejected:
            headers = list(d.event.kafka_headers()) if d.event is not None else []
            headers += [
                ("score_dlq_reason", reason.encode()[:1000]),
                ("score_dlq_source", self._consumer.encode()),
                ("score_dlq_partition", str(d.partition).encode()),
                ("score_dlq_offset", str(d.offset).encode()),
            ]
            key = d.event.kafka_key() if d.event is not None else d.raw_key
            value = d.event.kafka_value() if d.event is not None else d.raw_value
            self._producer.send(self._topic, key=key, value=value, headers=headers)
        self._producer.flush(timeout=30)


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, source: KafkaEventSource) -> None:
        self._source = source

    def on_partitions_revoked(self, revoked: Any) -> None:
        log.info("partitions revoked: %s", sorted(tp.partition for tp in revoked))

    def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("partitions assigned: %s", sorted(tp.partition for tp in assigned))
        self._source.seek_to_positions(assigned)


class KafkaEventSource:
    """A consumer-group member that resumes from the positions its owner stored with its effects."""

    def __init__(self, bootstrap_servers: str, topic: str, group_id: str, position_of: PositionOf) -> None:
        self._topic = topic
        self._position_of = position_of
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            client_id=f"{group_id}-member",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=500,
            session_timeout_ms=10000,
            heartbeat_interval_ms=3000,
        )
        self._consumer.subscribe([topic], listener=_Rebalance(self))

    def seek_to_positions(self, partitions: Any) -> None:
        for tp in partitions:
            last = self._position_of(tp.partition)
            if last is None:
                self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, last + 1)

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Delivery]:
        batches = self._consumer.poll(timeout_ms=int(timeout * 1000), max_records=max_records)
        out: list[Delivery] = []
        for tp, records in sorted(batches.items(), key=lambda kv: kv[0].partition):
            for r in records:
                try:
                    event: Event | None = from_kafka(r.key, r.value, r.headers)
                    error = None
                except MalformedEvent as exc:
                    event, error = None, str(exc)
                out.append(Delivery(tp.partition, r.offset, event, error, r.key, r.value))
        return out

    def rewind(self) -> None:
        self.seek_to_positions(self._consumer.assignment())

    def committed(self, positions: dict[int, int]) -> None:
        from kafka.structs import OffsetAndMetadata

        offsets = {
            TopicPartition(self._topic, p): OffsetAndMetadata(o + 1, "", -1) for p, o in positions.items()
        }
        try:
            self._consumer.commit_async(offsets)
        except Exception:  # noqa: BLE001 - lag reporting only; the database holds the real positions
            log.debug("offset commit for lag reporting failed", exc_info=True)

    def end_positions(self) -> dict[int, int]:
        parts = self._consumer.partitions_for_topic(self._topic) or set()
        ends = self._consumer.end_offsets([TopicPartition(self._topic, p) for p in parts])
        return {tp.partition: off - 1 for tp, off in ends.items()}

    def close(self) -> None:
        self._consumer.close(autocommit=False)
