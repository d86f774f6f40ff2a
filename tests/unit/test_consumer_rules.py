"""The consumer's rules without a database: which records of a batch follow the stored position, where a
failed batch is read again from, and the step that rewinds without asking the database that failed."""

from __future__ import annotations

import pytest

from services.aggregator.service_layer.apply import PositionGap, batch_start, follow
from services.aggregator.service_layer.runner import Consumer
from services.common.db import make_engine
from services.eventlog.envelope import Event
from services.eventlog.source import NOTHING, Delivery, PositionOf


def _event(i: int) -> Event:
    return Event.new("org.ilo.score.submission.accepted.v1", "/t", f"s{i}", "k", {"i": i}, id=f"e{i}")


def d(partition: int, offset: int, after: int | None = None) -> Delivery:
    return Delivery(partition, offset, _event(offset), after=after)


def test_records_already_applied_are_dropped_and_the_rest_must_follow() -> None:
    batch = [d(0, 3), d(0, 4), d(0, 5), d(1, 0), d(1, 1)]
    fresh = follow(batch, {0: 3, 1: NOTHING})
    assert [(x.partition, x.offset) for x in fresh] == [(0, 4), (0, 5), (1, 0), (1, 1)]


def test_a_record_that_does_not_follow_the_stored_position_refuses_the_batch() -> None:
    with pytest.raises(PositionGap) as gap:
        follow([d(0, 7), d(1, 0)], {0: 5, 1: NOTHING})
    assert gap.value.resume_after == {0: 5, 1: NOTHING}
    with pytest.raises(PositionGap):
        follow([d(0, 6), d(0, 8)], {0: 5})  # a hole inside the batch


def test_the_sql_logs_skipping_numbers_follow_by_their_named_predecessor() -> None:
    assert [x.offset for x in follow([d(0, 9, after=4), d(0, 12, after=9)], {0: 4})] == [9, 12]
    with pytest.raises(PositionGap):
        follow([d(0, 9, after=6)], {0: 4})


def test_a_failed_batch_is_read_again_from_where_each_partition_began() -> None:
    assert batch_start([d(2, 10), d(0, 4), d(2, 11), d(0, 5, after=4)]) == {2: 9, 0: 3}


class ScriptedSource:
    """A log that hands out one batch and records where it is told to rewind."""

    def __init__(self, batches: list[list[Delivery]]) -> None:
        self.batches = batches
        self.rewinds: list[dict[int, int]] = []

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Delivery]:
        return self.batches.pop(0) if self.batches else []

    def rewind(self, after: dict[int, int]) -> None:
        self.rewinds.append(after)

    def committed(self, positions: dict[int, int]) -> None:
        return None

    def end_positions(self) -> dict[int, int]:
        return {}

    def close(self) -> None:
        return None


def test_a_failed_batch_rewinds_the_source_without_the_database() -> None:
    # the database is down: nothing listens on port 1, so every connection is refused at once
    engine = make_engine("postgresql+psycopg://score@127.0.0.1:1/score", connect_args={"connect_timeout": 2})
    source = ScriptedSource([[d(0, 41), d(0, 42), d(1, 7)]])

    def make_source(position_of: PositionOf) -> ScriptedSource:
        return source

    consumer = Consumer(engine, "t", make_source)
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises for a database it cannot open
        consumer.step()
    assert source.rewinds == [{0: 40, 1: 6}]
