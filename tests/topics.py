"""Reading a topic the way an integrator would: a plain kafka-python consumer, no group, none of our code."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from tests.servers import kafka_admin_kwargs


def read_topic(
    bootstrap: str, topic: str, timeout: float = 30.0, *, security: Mapping[str, Any] | None = None
) -> list[ConsumerRecord]:
    """Every record of ``topic`` from the beginning to its current end, in partition then offset order.

    ``security``: the kafka-python login arguments; by default the test run's admin.
    """
    login = dict(kafka_admin_kwargs() if security is None else security)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, **login)
    try:
        deadline = time.monotonic() + timeout
        partitions: set[int] = set()
        while not partitions:
            assert time.monotonic() < deadline, f"no metadata for {topic}"
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        records: list[ConsumerRecord] = []
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, f"topic {topic} not read to its end in {timeout}s"
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
    finally:
        consumer.close()
    return sorted(records, key=lambda r: (r.partition, r.offset))
