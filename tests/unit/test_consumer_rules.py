"""The consumer's rules without a database: which records of a batch follow the stored position, where a
failed batch is read again from, and the step that rewinds without asking the database that failed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from services.aggregator.service_layer.apply import BatchResult, PositionGap, _payload, batch_start, follow
from services.aggregator.service_layer.runner import Consumer
from services.common.db import make_engine
from services.eventlog.envelope import Event, MalformedEvent, check_kafka
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


class BehindSource(ScriptedSource):
    """A log that says whether this member's partitions hold records it has not polled (as Kafka's does)."""

    def __init__(self, batches: list[list[Delivery]], behind: bool) -> None:
        super().__init__(batches)
        self.is_behind = behind

    def behind(self) -> bool:
        return self.is_behind


def _publishing_consumer(source: BehindSource, log_caught_up: list[bool]) -> tuple[Consumer, list[int]]:
    """A consumer whose batches apply without a database and whose snapshot publications are counted;
    ``log_caught_up[0]`` is what it is told about the positions every member stored."""
    published: list[int] = []

    def publish() -> int:
        published.append(1)
        return 1

    consumer = Consumer(make_engine("sqlite://"), "t", lambda _position_of: source, rollup_publisher=publish)
    consumer._apply = lambda deliveries, _prepared: BatchResult(applied=len(deliveries))  # type: ignore[method-assign,assignment]
    consumer.caught_up = lambda: log_caught_up[0]  # type: ignore[method-assign]
    return consumer, published


def test_a_consumer_started_behind_the_log_publishes_no_snapshots_after_its_first_batch() -> None:
    source = BehindSource([[d(0, 0), d(0, 1)], []], behind=True)
    consumer, published = _publishing_consumer(source, [False])
    consumer.batch_size = 2  # a full batch while the log says there is more: catching up
    assert consumer.step() == 2
    assert published == []  # every report it touched would be published again once caught up
    source.is_behind = False
    consumer.caught_up = lambda: True  # type: ignore[method-assign]
    assert consumer.step() == 0  # idle, and the whole log is applied: now
    assert published == [1]


def test_an_idle_member_publishes_only_once_every_members_position_reaches_the_end() -> None:
    source = BehindSource([[], [], []], behind=False)  # this member's partitions are done
    log_caught_up = [False]  # another member is still catching up
    consumer, published = _publishing_consumer(source, log_caught_up)
    consumer.step()
    consumer.step()
    assert published == []
    log_caught_up[0] = True
    consumer.step()
    assert published == [1]


def test_the_kafka_check_keeps_no_parse_and_the_apply_step_parses_the_payload_where_it_uses_it() -> None:
    event = _event(3)
    checked = check_kafka(event.kafka_key(), event.kafka_value(), event.kafka_headers())
    assert checked == event
    assert _payload(Delivery(0, 3, checked, raw_value=event.kafka_value())) == {"i": 3}


def _malformed(check: Callable[..., object], *args: object) -> str:
    with pytest.raises(MalformedEvent) as refused:
        check(*args)
    return str(refused.value)


def test_the_kafka_check_refuses_a_broken_envelope_and_says_why() -> None:
    """``check_kafka`` (the aggregator's poll thread) gives the event of an intact record, skips headers it
    does not need, and refuses a broken envelope with its reason; only the payload's JSON is left to the apply
    step."""
    event = _event(5)
    key, value, headers = event.kafka_key(), event.kafka_value(), event.kafka_headers()
    assert check_kafka(key, value, headers) == event
    assert check_kafka(key, value, [*headers, ("traceparent", b"00-1-2-01")]) == event  # others skipped
    broken: list[tuple[bytes | None, list[tuple[str, bytes]], str]] = [
        (value, [], "missing CloudEvents headers: ce_id, ce_type, ce_source, ce_specversion"),
        (
            value,
            [h for h in headers if h[0] not in ("ce_id", "ce_source")],
            "missing CloudEvents headers: ce_id, ce_source",
        ),
        (
            value,
            [(k, b"0.3" if k == "ce_specversion" else v) for k, v in headers],
            "unsupported ce_specversion 0.3",
        ),
        (b"\xff not utf-8", headers, "payload is not JSON"),
    ]
    for raw, hs, reason in broken:
        assert _malformed(check_kafka, key, raw, hs).startswith(reason)
    # not JSON but UTF-8: the envelope passes here; the apply step's parse refuses it (tests/integration/
    # test_apply_edges.py: dead-lettered as a broken envelope, without a claim)
    assert check_kafka(key, b'{"i": ', headers).data_json == '{"i": '


def test_a_batchs_sums_per_cell_group_equal_the_sum_of_each_facts_contributions() -> None:
    """The consumer sums a batch's new facts per (district, day, industry) from ``kpis.metrics`` and builds
    the cell keys once; the cells it writes must be exactly the per-fact ``contributions`` (which verify
    recomputes) summed, members likewise, over the bench's mix of inspections, surveys and rectifications."""
    from collections import Counter

    from bench.aggregator_bench import make_events
    from services.aggregator.domain import facts as f
    from services.aggregator.domain.kpis import contributions, members
    from services.aggregator.service_layer.apply import _Changes, _checked_new

    changes = _Changes()
    cells: Counter[Any] = Counter()
    mems: Counter[Any] = Counter()
    for event in make_events(600):
        fact = f.fact_from_submission(event.subject, event.data)
        changes.add((fact.district, fact.day, fact.industry), _checked_new(fact))
        cells.update(contributions(fact))
        mems.update(members(fact))
    rejected = f.Fact("L", "S", "factory_inspection", "330784", "E1", "C33", fact.day, "rejected", {})
    changes.add(
        (rejected.district, rejected.day, rejected.industry), _checked_new(rejected)
    )  # counts nothing
    assert len(cells) > 100 and max(cells.values()) > 1  # cells shared by several facts: sums, not copies
    assert changes.cell_deltas() == {k: v for k, v in cells.items() if v}
    assert changes.members == mems


def test_snapshots_due_while_catching_up_are_computed_while_the_next_batch_is_written() -> None:
    """A snapshot due after a batch (``rollup_max_delay`` passed) is published once the next batch is on the
    apply thread, not before it is handed over: the seconds its reports take overlap that batch's writes."""
    source = BehindSource([[d(0, 0), d(0, 1)], [d(0, 2), d(0, 3)], [d(0, 4), d(0, 5)]], behind=True)
    in_flight_when_published: list[bool] = []
    consumer, _ = _publishing_consumer(source, [False])

    def publish() -> int:
        in_flight_when_published.append(consumer._inflight is not None)
        return 1

    consumer.rollup_publisher = publish
    consumer.batch_size = 2
    consumer.rollup_max_delay = 0.0  # due after every batch while catching up
    try:
        assert consumer.step(pipelined=True) == 2  # the first batch goes to the apply thread; nothing due yet
        assert in_flight_when_published == []
        assert consumer.step(pipelined=True) == 2  # settles the first (now due), hands over the second
        assert in_flight_when_published == [True]
        assert consumer.step(pipelined=True) == 2
        assert in_flight_when_published == [True, True]
    finally:
        consumer.close()
    assert in_flight_when_published == [
        True,
        True,
        False,
    ]  # the last one, on the way out, with none in flight


def test_prepare_derives_first_versions_only_and_leaves_the_rest_to_the_transaction() -> None:
    """``prepare`` (the polling thread) derives what the bulk path writes for a first version, from its
    payload alone, and the same rows and effects as deriving it in the transaction; a correction, a review
    or an event whose id differs from its submission's gets its parsed payload only; a payload the rollups
    cannot use is the reason it will be dead-lettered; a payload that is not JSON is left to the apply step."""
    from bench.aggregator_bench import make_events
    from services.aggregator.adapters.store import fact_row, hazard_rows
    from services.aggregator.domain import facts as f
    from services.aggregator.service_layer.apply import _checked_new, _Derived, prepare

    events = make_events(30)
    first = events[0]
    correction = Event.new(
        f.CORRECTED, "/t", "s-2", "k", {**first.data, "submission_id": "s-2", "replaces": first.subject}
    )
    review = Event.new(
        f.REVIEWED, "/t", first.subject, "k", {"submission_id": first.subject, "status": "approved"}
    )
    other_id = Event.new(f.ACCEPTED, "/t", "s-3", "k", {**first.data, "submission_id": "s-4"})
    no_form = Event.new(f.ACCEPTED, "/t", "s-5", "k", {**first.data, "submission_id": "s-5", "form": "x"})
    batch = [Delivery(0, i, e) for i, e in enumerate([*events, correction, review, other_id, no_form])]
    broken = Delivery(1, 0, first, raw_value=b"not json", json_checked=False, data=None)
    prepared = prepare([*batch, broken])
    for d_, event in zip(batch, events, strict=False):
        derived = prepared[id(d_)]
        assert isinstance(derived, _Derived)
        fact = f.fact_from_submission(event.subject, event.data)
        assert derived.row == fact_row(fact, event.data_json)
        assert derived.hazards == hazard_rows(fact)
        assert derived.group == (fact.district, fact.day, fact.industry)
        assert derived.new == _checked_new(fact)
    assert any(isinstance(prepared[id(x)], _Derived) and prepared[id(x)].hazards for x in batch)  # type: ignore[union-attr]
    for d_ in batch[len(events) : len(events) + 3]:
        assert prepared[id(d_)] == d_.event.data  # type: ignore[union-attr]
    refused = prepared[id(batch[-1])]
    assert isinstance(refused, f.UnusableEvent) and "unknown form" in str(refused)
    assert id(broken) not in prepared
