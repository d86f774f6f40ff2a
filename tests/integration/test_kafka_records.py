"""The aggregator's record decode (services/eventlog/kafka_records.py) returns exactly what kafka-python's does.

Batches a real broker served, uncompressed and gzip-compressed (the codec every kafka-python has), with the
record shapes the log can hold: our CloudEvents headers, null keys and values, no headers, an empty header
value (a null one, which kafka-python's producer cannot send, in the batch built here), non-ASCII keys and
values, values long enough for multi-byte lengths, offsets past one-byte deltas.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import Fetcher
from kafka.errors import CorruptRecordError
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords

from services.eventlog import kafka_records
from services.eventlog.envelope import kafka_headers
from tests.servers import KafkaBroker

pytestmark = pytest.mark.kafka

RECORDS = 600


def _records() -> list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]]:
    out: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]] = []
    for i in range(RECORDS):
        headers: list[tuple[str, bytes | None]] = [
            *kafka_headers(
                f"e{i}", "/intake", "org.ilo.score.submission.accepted.v1", "2026-11-27T08:00:00Z", f"s{i}"
            )
        ]
        key: bytes | None = f"91330102MA{i:08d}".encode()
        value: bytes | None = ('{"n": %d, "text": "%s"}' % (i, "永康五金" * (i % 40))).encode()  # noqa: UP031
        if i % 17 == 0:
            key = None
        if i % 23 == 0 and key is not None:  # the producer refuses a record with neither
            value = None
        if i % 29 == 0:
            headers = []
        if i % 31 == 0:
            headers = [*headers, ("trace", b""), ("schlüssel-键", "värde-值".encode())]
        if i % 37 == 0:
            value = b"x" * (20_000 + i)  # a length of three varint bytes
        out.append((key, value, headers))
    return out


def _produce(broker: KafkaBroker, topic: str, compression: str | None) -> None:
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap,
        compression_type=compression,
        linger_ms=20,
        batch_size=64 * 1024,
        max_request_size=4 * 1024 * 1024,
        **broker.admin.client_kwargs(),
    )
    try:
        for key, value, headers in _records():
            producer.send(topic, key=key, value=value, headers=headers)
        producer.flush(timeout=60)
    finally:
        producer.close()


def _read(broker: KafkaBroker, topic: str, fast: bool, max_records: int = 500) -> list[Any]:
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        enable_auto_commit=False,
        max_poll_records=max_records,
        **broker.admin.client_kwargs(),
    )
    try:
        if fast:
            assert kafka_records.install(consumer)
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        out: list[Any] = []
        deadline = time.monotonic() + 60
        while len(out) < RECORDS:
            assert time.monotonic() < deadline, f"read {len(out)} of {RECORDS} records in 60 s"
            for records in consumer.poll(timeout_ms=1000).values():
                out.extend(records)
        return out
    finally:
        consumer.close()


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_fast_decode_returns_what_kafka_python_returns(
    kafka_broker: KafkaBroker, compression: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = f"score.records.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap, **kafka_broker.admin.client_kwargs())
    try:
        admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}})
        admin.wait_for_topics([topic], timeout_ms=30000)
    finally:
        admin.close()
    _produce(kafka_broker, topic, compression)

    expected = _read(kafka_broker, topic, fast=False)
    calls: list[int] = []
    real = kafka_records.decode_records

    def counted(batch: Any, t: str, p: int) -> Any:
        decoded = real(batch, t, p)
        calls.append(len(decoded[0]))
        return decoded

    monkeypatch.setattr(kafka_records, "decode_records", counted)
    got = _read(kafka_broker, topic, fast=True)
    assert sum(calls) == RECORDS  # every record went through the fast decode, none through the fallback
    assert len(expected) == RECORDS
    assert got == expected  # ConsumerRecord tuples: every field, the sizes included
    # stopping mid-batch (a poll's max_records) resumes at the next record, as kafka-python does
    assert _read(kafka_broker, topic, fast=True, max_records=7) == expected


def _batch(records: int = 5) -> bytearray:
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=0, is_transactional=False, producer_id=-1, producer_epoch=-1,
        base_sequence=-1, batch_size=1 << 20,
    )  # fmt: skip
    for i in range(records):
        builder.append(
            i, 1_700_000_000_000 + i, b"k", b"v" * 300, [("ce_id", f"e{i}".encode()), ("trace", None)]
        )
    return builder.build()


def test_batches_read_alike_without_a_broker() -> None:
    tp = TopicPartition("t", 0)
    data = bytes(_batch())
    slow = Fetcher.PartitionRecords(0, tp, MemoryRecords(data)).take()
    fast = kafka_records.FastPartitionRecords(0, tp, MemoryRecords(data)).take()
    assert len(slow) == 5 and fast == slow


def test_a_corrupt_record_raises_kafka_pythons_own_error() -> None:
    """A record whose bytes do not add up: the fast decode gives up on the batch and kafka-python's loop
    raises its error for it (the CRC check is off here, so the record itself is what fails)."""
    data = _batch()
    data[61] = 0x7E  # the first record's length varint (after the 61-byte batch header): far too long
    tp = TopicPartition("t", 0)
    errors = []
    for cls in (Fetcher.PartitionRecords, kafka_records.FastPartitionRecords):
        with pytest.raises(CorruptRecordError) as caught:
            cls(0, tp, MemoryRecords(bytes(data)), check_crcs=False).take()
        errors.append(str(caught.value))
    assert errors[0] == errors[1]


def test_only_a_tested_kafka_python_gets_the_fast_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    class Consumer:
        _fetcher = type("F", (), {"PartitionRecords": Fetcher.PartitionRecords})()

    consumer = Consumer()
    monkeypatch.setattr(kafka_records.kafka, "__version__", "3.99.0")
    assert not kafka_records.install(consumer)
    assert consumer._fetcher.PartitionRecords is Fetcher.PartitionRecords
    monkeypatch.setattr(kafka_records.kafka, "__version__", sorted(kafka_records.TESTED_VERSIONS)[0])
    assert kafka_records.install(consumer)
    assert consumer._fetcher.PartitionRecords is kafka_records.FastPartitionRecords
