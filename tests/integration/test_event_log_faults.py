"""The event log under faults, on real PostgreSQL and a real Apache Kafka broker.

- the broker goes down: the intake keeps accepting, the backlog waits in the outbox, nothing is lost or
  doubled once the broker is back;
- the relay dies between the broker's ack and the mark: the batch is sent again, the topic holds
  duplicates, the aggregator counts every submission once;
- two relays run at once: only the lease holder publishes, in position order, and the lease fails over;
- the embedded SQL log and Kafka honour one reader contract (same events, per-key order, resume).

Tests that stop the broker start their own, so the session broker other tests share is never disturbed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaTimeoutError
from sqlalchemy import Engine, func, select

from services.aggregator.adapters.tables import processed_events
from services.aggregator.service_layer.verify import verify
from services.common.config import Settings
from services.common.db import make_engine
from services.eventlog import outbox as ob
from services.eventlog.envelope import Event
from services.eventlog.kafka import KafkaConnection, KafkaEventSource, KafkaPublisher
from services.eventlog.metrics import outbox_metrics
from services.eventlog.relay import Publisher, Relay
from services.eventlog.source import NOTHING, Delivery, EventSource, PositionOf, SqlEventSource
from tests.builders import inspection
from tests.conftest import System, _start_or_skip, build_system, migrated, real_settings, sqlite_settings
from tests.servers import KafkaBroker
from tests.topics import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

YONGKANG, SHANGCHENG = "330784", "330102"


# -- helpers ---------------------------------------------------------------------------------------------
def _bodies(n: int, start: int = 0) -> list[dict[str, Any]]:
    """Inspections alternating Yongkang / Hangzhou-Shangcheng; five enterprises, so keys repeat."""
    return [
        inspection(
            district=YONGKANG if i % 2 == 0 else SHANGCHENG,
            enterprise=i % 5 + 1,
            day=date(2026, 11, 1 + i % 20),
        )
        for i in range(start, start + n)
    ]


def _post_all(system: System, bodies: Sequence[dict[str, Any]]) -> None:
    for body in bodies:
        resp = system.post(body)
        assert resp.status_code == 201, resp.get_json()


def _publisher(settings: Settings, delivery_timeout_ms: int = 5000) -> KafkaPublisher:
    return KafkaPublisher(
        KafkaConnection.from_settings(settings), settings.topic, delivery_timeout_ms=delivery_timeout_ms
    )


def _outbox(engine: Engine) -> list[tuple[int, Event]]:
    with engine.connect() as conn:
        return list(ob.read_after(conn, 0, 1_000_000))


def _ce_id(record: ConsumerRecord) -> str:
    return dict(record.headers)["ce_id"].decode()


def _assert_topic_matches_outbox(
    records: Sequence[ConsumerRecord], rows: Sequence[tuple[int, Event]], duplicates: set[str] | None = None
) -> None:
    """Every outbox event is on the topic, exactly once unless named in ``duplicates``; per key (so per
    partition) the first copies appear in outbox position order."""
    position = {e.id: pos for pos, e in rows}
    counts = Counter(_ce_id(r) for r in records)
    assert set(counts) == set(position), "topic and outbox hold different events"
    doubled = {i for i, c in counts.items() if c > 1}
    assert doubled == (duplicates or set()), f"unexpected copies: {sorted(doubled ^ (duplicates or set()))}"
    assert all(c <= 2 for c in counts.values())
    seen: set[str] = set()
    by_key: dict[bytes, list[int]] = defaultdict(list)
    for r in records:
        eid = _ce_id(r)
        if eid in seen:
            continue
        seen.add(eid)
        by_key[r.key].append(position[eid])
    for key, positions in by_key.items():
        assert positions == sorted(positions), f"key {key!r} out of position order: {positions}"
    # and the bytes are the stored ones
    stored = {e.id: e for _, e in rows}
    for r in records:
        e = stored[_ce_id(r)]
        assert (r.key, r.value) == (e.kafka_key(), e.kafka_value())


def _assert_report(system: System, yongkang: int, shangcheng: int) -> None:
    assert system.report(YONGKANG)["figures"]["inspections"] == yongkang
    assert system.report("330100")["figures"]["inspections"] == shangcheng
    assert system.report("330000")["figures"]["inspections"] == yongkang + shangcheng
    assert verify(system.aggregator.engine).ok


def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.05)


def _close(system: System, *relays: Relay) -> None:
    system.consumer.close()
    for relay in relays:
        relay._reset_publisher()


# -- 1. broker down ----------------------------------------------------------------------------------------
def test_broker_down_intake_keeps_accepting_and_nothing_is_lost_or_doubled(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    broker: KafkaBroker = _start_or_skip("Kafka broker", lambda: KafkaBroker.start(tmp_path / "kafka"))
    try:
        settings = migrated(replace(real_settings(request), kafka_bootstrap_servers=broker.bootstrap))
        system = build_system(settings)
        engine = system.intake.engine
        relay = Relay(engine, lambda: _publisher(settings, 3000), holder="relay-1", lease_seconds=30)
        stop = threading.Event()
        loop = threading.Thread(target=relay.run_forever, args=(stop, 0.05), daemon=True)
        try:
            _post_all(system, _bodies(6))
            assert relay.drain(30) == 6
            stranded = _publisher(
                settings, 20000
            )  # the relay's default delivery timeout, longer than close's
            stranded.ready()

            broker.stop()
            # A producer closed while the broker is away, holding a record it could not deliver: kafka-python's
            # close() flushes first, and the flush times out.  It raises, and the network thread is stopped
            # anyway (it used to stay, retrying the broker for the life of the process), the record not sent.
            stranded.send_records([(b"stranded", b"{}", [])])
            with pytest.raises(KafkaTimeoutError):
                stranded.close()
            assert not stranded._producer._sender.is_alive()
            _post_all(system, _bodies(6, start=6))  # the intake does not need the broker
            assert relay.backlog() == 6
            with pytest.raises(Exception):  # noqa: B017 - whatever kafka-python raises: nothing is marked
                relay.run_once()
            assert relay.backlog() == 6

            # the relay loop retries with back-off while the broker is away; the backlog keeps growing
            loop.start()
            _post_all(system, _bodies(8, start=12))
            _wait(lambda: relay.metrics.errors >= 1, 30, "the relay loop to report the outage")
            metrics = outbox_metrics(engine, relay)
            assert metrics["backlog"] == 14 and metrics["published_total"] == 6
            assert metrics["oldest_unpublished_age_seconds"] is not None
            assert metrics["relay"]["errors"] >= 1 and metrics["relay"]["last_error"]

            broker.restart()
            _wait(lambda: relay.backlog() == 0, 60, "the backlog to drain after the restart")
            stop.set()
            loop.join(30)
            assert outbox_metrics(engine)["published_total"] == 20

            _assert_topic_matches_outbox(read_topic(broker.bootstrap, settings.topic), _outbox(engine))
            system.consumer.run_until_caught_up(60)
            assert (system.consumer.stats.applied, system.consumer.stats.duplicates) == (20, 0)
            _assert_report(system, yongkang=10, shangcheng=10)
        finally:
            stop.set()
            if loop.is_alive():
                loop.join(30)
            _close(system, relay)
    finally:
        broker.stop()


# -- 2. relay killed between send and mark -------------------------------------------------------------------
class RelayKilled(RuntimeError):
    pass


class DiesAfterSend:
    """A publisher whose process dies right after the broker acknowledged, before the relay marks."""

    def __init__(self, inner: KafkaPublisher) -> None:
        self.inner = inner
        self.sent: list[str] = []

    def publish(self, events: Sequence[Event]) -> None:
        self.inner.publish(events)
        self.sent.extend(e.id for e in events)
        raise RelayKilled("killed after the broker's ack, before the mark")

    def close(self) -> None:
        self.inner.close()


def test_relay_killed_between_send_and_mark_resends_and_aggregator_counts_once(
    request: pytest.FixtureRequest,
) -> None:
    settings = migrated(real_settings(request))
    system = build_system(settings)
    engine = system.intake.engine
    dying = DiesAfterSend(_publisher(settings))
    first = Relay(engine, lambda: dying, batch_size=5, holder="relay-before-crash", lease_seconds=0.5)
    second = Relay(engine, lambda: _publisher(settings), holder="relay-after-restart", lease_seconds=30)
    try:
        _post_all(system, _bodies(12))
        with pytest.raises(RelayKilled):
            first.run_once()
        assert len(dying.sent) == 5 and first.backlog() == 12  # sent, but not marked
        first._reset_publisher()

        # drain keeps trying until the dead relay's lease has run out, then re-sends the unmarked batch
        assert second.drain(30) == 12
        rows = _outbox(engine)
        _assert_topic_matches_outbox(
            read_topic(settings.kafka_bootstrap_servers, settings.topic), rows, duplicates=set(dying.sent)
        )

        system.consumer.run_until_caught_up(60)
        stats = system.consumer.stats
        assert (stats.applied, stats.duplicates, stats.dead_letters) == (12, 5, 0)
        with system.aggregator.engine.connect() as conn:
            claimed = conn.execute(select(func.count()).select_from(processed_events)).scalar_one()
        assert claimed == 12  # each event id claimed once
        _assert_report(system, yongkang=6, shangcheng=6)  # and each submission counted once
    finally:
        _close(system, first, second)


# -- 3. two relays at once -----------------------------------------------------------------------------------
@dataclass
class PublishCall:
    holder: str
    ids: list[str]
    start: float
    end: float
    held_lease: bool


class Recording:
    """Records every publish with the lease row as it stood when the publish began."""

    def __init__(self, inner: Publisher, holder: str, engine: Engine, calls: list[PublishCall]) -> None:
        self.inner, self.holder, self.engine, self.calls = inner, holder, engine, calls
        self.lock = threading.Lock()

    def _holds_lease(self) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(select(ob.relay_lease)).first()
        if row is None or row.holder != self.holder:
            return False
        return datetime.fromisoformat(row.expires_at.replace("Z", "+00:00")) > datetime.now(UTC)

    def publish(self, events: Sequence[Event]) -> None:
        held = self._holds_lease()
        start = time.monotonic()
        self.inner.publish(events)
        self.calls.append(PublishCall(self.holder, [e.id for e in events], start, time.monotonic(), held))

    def close(self) -> None:
        self.inner.close()


def test_two_relays_only_the_lease_holder_publishes_in_order_and_the_lease_fails_over(
    request: pytest.FixtureRequest,
) -> None:
    settings = migrated(real_settings(request))
    system = build_system(settings)
    engine = system.intake.engine
    calls: list[PublishCall] = []  # list.append is atomic

    def relay(holder: str) -> Relay:
        return Relay(
            engine,
            lambda: Recording(_publisher(settings, 1000), holder, engine, calls),
            batch_size=4,
            lease_seconds=1.5,
            holder=holder,
        )

    relays = {"relay-a": relay("relay-a"), "relay-b": relay("relay-b")}
    stops = {h: threading.Event() for h in relays}
    threads = {
        h: threading.Thread(target=r.run_forever, args=(stops[h], 0.02), daemon=True)
        for h, r in relays.items()
    }
    any_relay = relays["relay-a"]
    try:
        for t in threads.values():
            t.start()
        _post_all(system, _bodies(16))  # while both relays race for the lease
        _wait(lambda: any_relay.backlog() == 0, 30, "the first submissions to be published")
        with engine.connect() as conn:
            leader = conn.execute(select(ob.relay_lease.c.holder)).scalar_one()
        other = next(h for h in relays if h != leader)
        assert {c.holder for c in calls} == {leader}, "the non-leader published"

        # the leader stops without releasing its lease (a crash): the other relay takes over once it expires
        stops[leader].set()
        threads[leader].join(30)
        stopped_at = time.monotonic()
        _post_all(system, _bodies(16, start=16))
        _wait(lambda: any_relay.backlog() == 0, 30, "the other relay to take over")
        stops[other].set()
        threads[other].join(30)

        assert all(c.held_lease for c in calls), [c for c in calls if not c.held_lease]
        assert any(c.holder == other and c.start >= stopped_at for c in calls)
        # publishing windows of the two relays never overlap ...
        ordered = sorted(calls, key=lambda c: c.start)
        for before, after in zip(ordered, ordered[1:], strict=False):
            assert before.end <= after.start or before.holder == after.holder
        # ... and together they sent every event once, in outbox position order
        rows = _outbox(engine)
        position = {e.id: pos for pos, e in rows}
        sent = [position[i] for c in ordered for i in c.ids]
        assert sent == [pos for pos, _ in rows]
        _assert_topic_matches_outbox(read_topic(settings.kafka_bootstrap_servers, settings.topic), rows)

        system.consumer.run_until_caught_up(60)
        _assert_report(system, yongkang=16, shangcheng=16)
    finally:
        for h, t in threads.items():
            stops[h].set()
            if t.is_alive():
                t.join(30)
        _close(system, *relays.values())


# -- 4. one reader contract, two logs ------------------------------------------------------------------------
def _poll_n(
    source: EventSource, n: int, timeout: float = 30.0, store: dict[int, int] | None = None
) -> list[Delivery]:
    """Read ``n`` records; with ``store``, record each batch's positions there as a consumer would."""
    out: list[Delivery] = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        assert time.monotonic() < deadline, f"read {len(out)} of {n} records in {timeout}s"
        batch = source.poll(500, 0.5)
        out.extend(batch)
        if store is not None:
            for d in batch:
                store[d.partition] = max(d.offset, store.get(d.partition, NOTHING))
    assert len(out) == n, f"read {len(out)} records, expected {n}: {[(d.partition, d.offset) for d in out]}"
    extra = source.poll(500, 0.3)
    assert extra == [], (
        f"the source returned more than the log holds: {[(d.partition, d.offset) for d in extra]}"
    )
    return out


def _assert_same_events(got: Sequence[Delivery], expected: Sequence[Event]) -> None:
    events = [d.event for d in got]
    assert all(e is not None for e in events)
    by_id = {e.id: e for e in expected}
    assert sorted(e.id for e in events if e) == sorted(by_id), "not the same events, or not each once"
    for e in events:
        assert e is not None
        want = by_id[e.id]
        assert (e.type, e.source, e.subject, e.key, e.time) == (
            want.type,
            want.source,
            want.subject,
            want.key,
            want.time,
        )
        assert e.kafka_value() == want.kafka_value()  # payload bytes as stored
    per_key_got: dict[str, list[str]] = defaultdict(list)
    per_key_want: dict[str, list[str]] = defaultdict(list)
    for e in events:
        assert e is not None
        per_key_got[e.key].append(e.id)
    for e in expected:
        per_key_want[e.key].append(e.id)
    assert per_key_got == per_key_want


def _offsets(deliveries: Sequence[Delivery]) -> dict[int, list[int]]:
    """Offsets read per partition, in reading order (each partition must come in offset order)."""
    out: dict[int, list[int]] = defaultdict(list)
    for d in deliveries:
        out[d.partition].append(d.offset)
    for offsets in out.values():
        assert offsets == sorted(offsets)
    return dict(out)


def _firsts(deliveries: Sequence[Delivery]) -> list[Delivery]:
    """The first delivery of each partition."""
    seen: dict[int, Delivery] = {}
    for d in deliveries:
        seen.setdefault(d.partition, d)
    return list(seen.values())


def event_source_contract(
    make_source: Callable[[PositionOf], EventSource], expected: Sequence[Event]
) -> None:
    """What the aggregator relies on from any log: run against every adapter.

    The reader stores what it reads, as the consumer does in its database: a Kafka group may rebalance at any
    moment (a member joining or leaving, metadata changing), and a reassigned partition resumes after the
    stored position, so only a reader that stores as it goes reads each record once.
    """
    stored: dict[int, int] = {}  # the consumer's positions, as its database would keep them

    def position_of(partition: int) -> int | None:
        return stored.get(partition)

    def restart_from(positions: dict[int, int]) -> None:
        """As if the consumer's database now held ``positions`` (a rewind, positions lost or restored)."""
        stored.clear()
        stored.update({p: o for p, o in positions.items() if o != NOTHING})

    source = make_source(position_of)
    try:
        everything = _poll_n(source, len(expected), store=stored)
        _assert_same_events(everything, expected)
        last: dict[int, int] = {}
        for d in everything:
            last[d.partition] = max(d.offset, last.get(d.partition, -1))
        ends = source.end_positions()
        assert {p: o for p, o in ends.items() if o >= 0} == last

        # every record names the one before it in its partition (the first: nothing), so a consumer can
        # tell a batch that follows its stored position from one that skips records
        previous: dict[int, int] = {}
        for d in everything:
            assert d.previous == previous.get(d.partition, NOTHING), d
            previous[d.partition] = d.offset

        # rewound to before the first record: the whole log again
        restart_from({})
        source.rewind({p: NOTHING for p in last})
        _assert_same_events(_poll_n(source, len(expected), store=stored), expected)

        # rewound to the first half's positions (no database asked): resumes right after them
        half = everything[: len(everything) // 2]
        at_half: dict[int, int] = {}
        for d in half:
            at_half[d.partition] = max(d.offset, at_half.get(d.partition, -1))
        restart_from(at_half)
        source.rewind({p: at_half.get(p, NOTHING) for p in last})
        rest = _poll_n(source, len(everything) - len(half), store=stored)
        assert _offsets(rest) == _offsets(everything[len(half) :])
        assert all(d.previous == at_half.get(d.partition, NOTHING) for d in _firsts(rest))
    finally:
        source.close()

    # a new reader (a restarted consumer) starts after the stored positions too
    restart_from(at_half)
    source = make_source(position_of)
    try:
        again = _poll_n(source, len(everything) - len(half), store=stored)
        assert _offsets(again) == _offsets(everything[len(half) :])
        assert all(d.previous == at_half.get(d.partition, NOTHING) for d in _firsts(again))
    finally:
        source.close()


def test_sql_log_and_kafka_honour_the_same_reader_contract(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    embedded = build_system(migrated(sqlite_settings(tmp_path)))
    real_settings_ = migrated(real_settings(request))
    real = build_system(real_settings_)
    assert real.relay is not None
    try:
        bodies = _bodies(14)
        bodies.append(inspection(district=YONGKANG, enterprise=1, replaces=bodies[0]["submission_id"]))
        for system in (embedded, real):
            _post_all(system, bodies)
        expected = [e for _, e in _outbox(embedded.intake.engine)]
        assert [e for _, e in _outbox(real.intake.engine)] == expected  # same submissions, same events
        assert len({e.type for e in expected}) == 2 and len({e.key for e in expected}) == 10
        assert real.relay.drain(30) == len(expected)

        log_engine = make_engine(embedded.settings.event_log_url, read_only=True)
        event_source_contract(lambda position_of: SqlEventSource(log_engine, position_of), expected)
        event_source_contract(
            lambda position_of: KafkaEventSource(
                KafkaConnection.from_settings(real_settings_),
                real_settings_.topic,
                f"{real_settings_.consumer_group}-contract",
                position_of,
            ),
            expected,
        )
    finally:
        _close(embedded)
        _close(real, real.relay)
