"""A faster decode of Kafka record batches (message format v2) for the aggregator's consumer.

Why: kafka-python decodes each record in pure Python, a call to ``decode_varint`` per length (a record of ours
has 7 CloudEvents headers: ~22 varints), a ``DefaultRecord`` object and a dozen property reads per record, and a
generator that encodes every header key again to count its size.  A profile of the aggregator's poll thread put
it at ~23 us a record, a quarter of the consumer's CPU per event.  ``decode_records`` reads the same bytes in
one loop, with the one-byte varints (nearly all of them) inlined: ~12 us.

What it returns is exactly what kafka-python returns: the same ``ConsumerRecord`` tuples, field for field
(``tests/integration/test_kafka_records.py`` compares them on batches a real broker served, compressed ones
included).  Only the records' own decode is replaced; every batch-level step stays kafka-python's (the CRC
check, decompression, transaction markers and aborted transactions, control batches).  The fast path is used
for a v2 batch of a consumer without deserializers; for anything else, or a batch it cannot read (a corrupt
record), kafka-python's own loop runs, which raises kafka-python's own error.

It reaches into kafka-python's internals (``Fetcher.PartitionRecords``, ``DefaultRecordBatch._buffer``), so it
is installed only for the kafka-python versions it was tested with (``TESTED_VERSIONS``); with any other, the
consumer decodes as kafka-python does and logs that once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import kafka
from kafka.consumer.fetcher import ConsumerRecord, Fetcher
from kafka.errors import CorruptRecordError
from kafka.record.default_records import DefaultRecordBatch
from kafka.record.util import decode_varint

log = logging.getLogger(__name__)

#: kafka-python releases whose record decode ``decode_records`` was compared with (see the module docstring)
TESTED_VERSIONS = frozenset({"3.0.12"})

_LOG_APPEND_TIME = DefaultRecordBatch.LOG_APPEND_TIME

#: header names as read (UTF-8) -> as returned: a record of ours repeats the same 7, so each is decoded once;
#: bounded, so a producer that makes up names cannot grow it
_HEADER_NAMES: dict[bytes, str] = {}
_MAX_HEADER_NAMES = 256


def decode_records(batch: DefaultRecordBatch, topic: str, partition: int) -> tuple[list[Any], list[int]]:
    """The records of an uncompressed (or already decompressed) v2 batch as kafka-python's fetcher yields
    them, and each one's size in bytes (the fetcher's ``bytes_read``).  Raises ``ValueError`` or ``IndexError``
    on bytes that are not a well-formed batch; the batch itself is not changed (its own iterator still works).
    """
    # bytes, not the batch's bytearray: a slice of bytes is the value itself, where a bytearray's slice must
    # be copied again into bytes (2 of the ~30 objects a record costs, for each of its 16 fields)
    buf = bytes(batch._buffer)
    pos = batch._pos
    names = _HEADER_NAMES
    base_offset = batch.base_offset
    ts_type = batch.timestamp_type
    fixed_ts = batch.max_timestamp if ts_type == _LOG_APPEND_TIME else None
    first_ts = batch.first_timestamp
    epoch = batch.leader_epoch
    out: list[Any] = []
    sizes: list[int] = []
    append, size = out.append, sizes.append
    # A varint is zigzag encoded; one byte below 0x80 is the whole varint: (b >> 1) ^ -(b & 1).  Longer ones
    # go to kafka-python's decode_varint.
    for _ in range(batch._num_records):
        b = buf[pos]
        if b < 0x80:
            length = (b >> 1) ^ -(b & 1)
            pos += 1
        else:
            length, pos = decode_varint(buf, pos)
        start = pos
        if buf[pos] < 0x80:  # attributes: unused by the format so far (kafka-python skips them too)
            pos += 1
        else:
            _, pos = decode_varint(buf, pos)
        b = buf[pos]
        if b < 0x80:
            ts_delta = (b >> 1) ^ -(b & 1)
            pos += 1
        else:
            ts_delta, pos = decode_varint(buf, pos)
        b = buf[pos]
        if b < 0x80:
            offset_delta = (b >> 1) ^ -(b & 1)
            pos += 1
        else:
            offset_delta, pos = decode_varint(buf, pos)
        b = buf[pos]
        if b < 0x80:
            n = (b >> 1) ^ -(b & 1)
            pos += 1
        else:
            n, pos = decode_varint(buf, pos)
        if n >= 0:
            key: bytes | None = buf[pos : pos + n]
            pos += n
        else:
            key = None
        b = buf[pos]
        if b < 0x80:
            n = (b >> 1) ^ -(b & 1)
            pos += 1
        else:
            n, pos = decode_varint(buf, pos)
        if n >= 0:
            value: bytes | None = buf[pos : pos + n]
            pos += n
        else:
            value = None
        b = buf[pos]
        if b < 0x80:
            count = (b >> 1) ^ -(b & 1)
            pos += 1
        else:
            count, pos = decode_varint(buf, pos)
        if count < 0:
            raise ValueError(f"invalid number of record headers {count}")
        headers: list[tuple[str, bytes | None]] = []
        header_size = 0
        for _h in range(count):
            b = buf[pos]
            if b < 0x80:
                n = (b >> 1) ^ -(b & 1)
                pos += 1
            else:
                n, pos = decode_varint(buf, pos)
            if n < 0:
                raise ValueError(f"invalid negative header key size {n}")
            raw_key = buf[pos : pos + n]
            h_key = names.get(raw_key)
            if h_key is None:  # (the same few names in every record: decoded once)
                h_key = raw_key.decode("utf-8")
                if len(names) < _MAX_HEADER_NAMES:
                    names[raw_key] = h_key
            pos += n
            header_size += n  # the fetcher counts the key's UTF-8 bytes: these
            b = buf[pos]
            if b < 0x80:
                n = (b >> 1) ^ -(b & 1)
                pos += 1
            else:
                n, pos = decode_varint(buf, pos)
            if n >= 0:
                h_value: bytes | None = buf[pos : pos + n]
                pos += n
                header_size += n
            else:
                h_value = None
            headers.append((h_key, h_value))
        if pos - start != length:
            raise ValueError(f"record size: expected {length} bytes, read {pos - start}")
        append(
            ConsumerRecord(
                topic,
                partition,
                epoch,
                base_offset + offset_delta,
                first_ts + ts_delta if fixed_ts is None else fixed_ts,
                ts_type,
                key,
                value,
                headers,
                None,  # a v2 record has no checksum of its own (DefaultRecord.checksum)
                -1 if key is None else len(key),
                -1 if value is None else len(value),
                header_size if headers else -1,
            )
        )
        size(length)
    if pos != len(buf):
        raise ValueError(f"{len(buf) - pos} unconsumed bytes after all records consumed")
    return out, sizes


class FastPartitionRecords(Fetcher.PartitionRecords):
    """kafka-python's ``Fetcher.PartitionRecords`` with each v2 batch's records read by ``decode_records``.

    ``_unpack_records`` is kafka-python 3.0.12's, step for step, except the loop over a batch's records."""

    def _unpack_records(
        self, tp: Any, records: Any, key_deserializer: Any, value_deserializer: Any
    ) -> Iterator[Any]:
        fast = key_deserializer is None and value_deserializer is None
        try:
            batch = records.next_batch()
            last_batch = None
            while batch is not None:
                last_batch = batch
                if self.check_crcs and not batch.validate_crc():
                    raise CorruptRecordError(
                        f"Record batch for partition {self.topic_partition} at offset {batch.base_offset} "
                        "failed crc check"
                    )
                if batch.magic == 2:
                    self.leader_epoch = batch.leader_epoch
                    if self.isolation_level == _READ_COMMITTED and batch.has_producer_id():
                        self._consume_aborted_transactions_up_to(batch.last_offset)
                        producer_id = batch.producer_id
                        if self._contains_abort_marker(batch):
                            self.aborted_producer_ids.discard(producer_id)
                        elif self._is_batch_aborted(batch):
                            self.next_fetch_offset = batch.next_offset
                            batch = records.next_batch()
                            continue
                    if batch.is_control_batch:
                        self.next_fetch_offset = batch.next_offset
                        batch = records.next_batch()
                        continue
                decoded = None
                if fast and isinstance(batch, DefaultRecordBatch):
                    batch._maybe_uncompress()
                    try:
                        decoded = decode_records(batch, tp.topic, tp.partition)
                    except (ValueError, IndexError):
                        decoded = None  # kafka-python's loop below reads it and raises its own error
                if decoded is not None:
                    for record, size in zip(*decoded, strict=True):
                        self.records_read += 1
                        self.bytes_read += size
                        self.next_fetch_offset = record.offset + 1
                        yield record
                else:
                    yield from self._slow(tp, batch, key_deserializer, value_deserializer)
                batch = records.next_batch()
            else:
                if last_batch and last_batch.magic == 2:
                    self.next_fetch_offset = last_batch.next_offset
                self.drain()
        except StopIteration:
            log.exception("StopIteration raised unpacking messageset")
            raise RuntimeError("StopIteration raised unpacking messageset") from None

    def _slow(self, tp: Any, batch: Any, key_deserializer: Any, value_deserializer: Any) -> Iterator[Any]:
        """kafka-python's loop over the records of one batch."""
        for record in batch:
            if self.check_crcs and not record.validate_crc():
                raise CorruptRecordError(
                    f"Record for partition {self.topic_partition} at offset {record.offset} failed crc check"
                )
            key_size = len(record.key) if record.key is not None else -1
            value_size = len(record.value) if record.value is not None else -1
            key = self._deserialize(key_deserializer, tp.topic, record.headers, record.key)
            value = self._deserialize(value_deserializer, tp.topic, record.headers, record.value)
            headers = record.headers
            header_size = (
                sum(len(k.encode("utf-8")) + (len(v) if v is not None else 0) for k, v in headers)
                if headers
                else -1
            )
            self.records_read += 1
            self.bytes_read += record.size_in_bytes
            self.next_fetch_offset = record.offset + 1
            yield ConsumerRecord(
                tp.topic,
                tp.partition,
                self.leader_epoch,
                record.offset,
                record.timestamp,
                record.timestamp_type,
                key,
                value,
                record.headers,
                record.checksum,
                key_size,
                value_size,
                header_size,
            )


def _read_committed() -> Any:
    from kafka.consumer.fetcher import IsolationLevel

    return IsolationLevel.READ_COMMITTED


_READ_COMMITTED = _read_committed()


def install(consumer: Any) -> bool:
    """Have ``consumer`` (a ``KafkaConsumer``) decode its records with ``decode_records``; only this consumer
    (its fetcher's instance attribute), and only on a tested kafka-python.  Returns whether it was installed."""
    fetcher = getattr(consumer, "_fetcher", None)
    if kafka.__version__ not in TESTED_VERSIONS or fetcher is None:
        log.info(
            "kafka-python %s: records decoded by kafka-python (the fast decode is tested with %s)",
            kafka.__version__,
            ", ".join(sorted(TESTED_VERSIONS)),
        )
        return False
    fetcher.PartitionRecords = FastPartitionRecords
    return True
