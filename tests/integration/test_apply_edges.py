"""Edges of the batch apply: the bulk path for new facts must never count a submission twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from services.aggregator.adapters.store import Store
from services.aggregator.adapters.tables import daily, dead_letters, facts, processed_events
from services.aggregator.service_layer.apply import PositionGap, apply_batch
from services.aggregator.service_layer.verify import reconcile, verify
from services.aggregator.views import district_report, period_of, stored_positions
from services.common.db import make_engine
from services.common.migrate import upgrade
from services.eventlog.envelope import Event, check_kafka
from services.eventlog.source import Delivery, LogRecord
from tests.builders import inspection
from tests.conftest import unique


def _accepted(body: dict[str, object], event_id: str) -> Event:
    data = {
        **body,
        "enterprise": "E1",
        "received_at": "2026-11-20T10:00:00+08:00",
        "computed": {"score": 100.0, "items_checked": 3, "items_failed": 0, "hazards": []},
    }
    return Event.new(
        "org.ilo.score.submission.accepted.v1",
        "/score/intake",
        str(body["submission_id"]),
        "E1",
        json.loads(json.dumps(data)),
        id=event_id,
    )


def _inspections(engine: Engine) -> int:
    from datetime import date

    report = district_report(
        engine, "330784", period_of("quarter", date(2026, 11, 20)), as_of=date(2026, 11, 27)
    )
    return int(report["figures"]["inspections"])


def test_the_same_submission_under_two_event_ids_counts_once(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'agg.db'}")
    upgrade("aggregator", engine)
    body = inspection()
    # twice in one batch, and again in a later batch, each time under another event id
    apply_batch(engine, "t", [Delivery(0, 0, _accepted(body, "a")), Delivery(0, 1, _accepted(body, "b"))])
    apply_batch(engine, "t", [Delivery(0, 2, _accepted(body, "c")), Delivery(0, 3, _accepted(body, "c"))])
    assert _inspections(engine) == 1
    assert verify(engine).ok


def test_a_redelivered_batch_changes_nothing(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'agg.db'}")
    upgrade("aggregator", engine)
    events = [_accepted(inspection(enterprise=i), f"e{i}") for i in range(5)]
    batch = [Delivery(0, i, e) for i, e in enumerate(events)]
    first = apply_batch(engine, "t", batch)
    # the same records again (a rewind, a rebalance): recognised by their position
    again = apply_batch(engine, "t", batch)
    # the same events at new offsets (the relay re-sent them): recognised by their ids
    resent = apply_batch(engine, "t", [Delivery(0, 5 + i, e) for i, e in enumerate(events)])
    assert (first.applied, again.applied, again.redelivered) == (5, 0, 5)
    assert (resent.applied, resent.duplicates) == (0, 5)
    assert _inspections(engine) == 5
    assert verify(engine).ok
    with engine.connect() as conn:
        assert stored_positions(conn, "t") == {0: (9, 10)}  # 10 records handled: 5 applied, 5 duplicates


def test_a_batch_that_skips_records_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'agg.db'}")
    upgrade("aggregator", engine)
    events = [_accepted(inspection(enterprise=i), f"e{i}") for i in range(6)]
    apply_batch(engine, "t", [Delivery(0, 0, events[0]), Delivery(0, 1, events[1])])
    with pytest.raises(PositionGap) as refused:
        apply_batch(engine, "t", [Delivery(0, 3, events[3]), Delivery(0, 4, events[4])])  # 2 never read
    assert refused.value.resume_after == {0: 1}
    with pytest.raises(PositionGap):  # a hole inside one batch
        apply_batch(engine, "t", [Delivery(0, 2, events[2]), Delivery(0, 4, events[4])])
    with pytest.raises(PositionGap):  # the SQL log's numbers may skip, but each record names its predecessor
        apply_batch(engine, "t", [Delivery(0, 7, events[2], after=5)])
    assert _inspections(engine) == 2
    with engine.connect() as conn:
        assert stored_positions(conn, "t") == {0: (1, 2)}
    done = apply_batch(engine, "t", [Delivery(0, 9, events[2], after=1), Delivery(0, 12, events[3], after=9)])
    assert done.applied == 2 and done.positions == {0: 12}
    assert _inspections(engine) == 4


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def agg_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    """An empty, migrated aggregator database: SQLite, and PostgreSQL (the set-based statements)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'agg.db'}"
    else:
        url = request.getfixturevalue("postgres_server").fresh_database(unique("apply_edges"))
    engine = make_engine(url)
    upgrade("aggregator", engine)
    return engine


def _from_kafka(offset: int, event: Event, value: bytes | None = None) -> Delivery:
    """A delivery as KafkaEventSource makes it: the envelope checked, the payload's JSON left to the apply."""
    raw = event.kafka_value() if value is None else value
    checked = check_kafka(event.kafka_key(), raw, event.kafka_headers())
    return Delivery(0, offset, checked, None, event.kafka_key(), raw, after=offset - 1, json_checked=False)


def _claims(engine: Engine) -> dict[str, tuple[int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(select(processed_events)).all()
    return {r.event_id: (r.partition, r.offset) for r in rows}


def test_a_kafka_record_whose_payload_is_not_json_is_a_broken_envelope_and_claims_nothing(
    agg_engine: Engine,
) -> None:
    """The Kafka source leaves the payload's JSON to the apply step's one parse: a record that is not JSON is
    still dead-lettered as a broken envelope (no event id, no claim), and a record later in the same batch with
    the same id, intact, is applied and owns the claim."""
    good = _accepted(inspection(enterprise=1), "same-id")
    other = _accepted(inspection(enterprise=2), "other")
    lone = _accepted(inspection(enterprise=3), "lone")
    batch = [
        _from_kafka(0, good, b'{"submission_id": '),  # cut short: not JSON
        _from_kafka(1, other),
        _from_kafka(2, good),  # the same id, intact: applied, and the claim is its own
        _from_kafka(3, lone, b"\x7b not json"),  # not JSON and no intact copy: no claim left
    ]
    done = apply_batch(agg_engine, "t", batch)
    assert (done.applied, done.duplicates, done.dead_letters) == (2, 0, 2)
    assert [(d.offset, d.event, reason.startswith("payload is not JSON")) for d, reason in done.rejected] == [
        (0, None, True),
        (3, None, True),
    ]
    assert _claims(agg_engine) == {"same-id": (0, 2), "other": (0, 1)}
    with agg_engine.connect() as conn:
        dead = conn.execute(select(dead_letters).order_by(dead_letters.c.offset)).all()
    assert [(r.offset, r.event_id) for r in dead] == [(0, None), (3, None)]
    assert _inspections(agg_engine) == 2
    assert verify(agg_engine).ok
    log = [LogRecord(0, d.offset, d.event.id if d.event else None) for d in batch]
    accounts = reconcile(agg_engine, "t", log).partitions[0]
    assert (accounts.applied, accounts.dead_letters, accounts.missing) == (2, 2, 0)
    # the intact event sent again later is a duplicate of the one applied
    again = apply_batch(agg_engine, "t", [_from_kafka(4, good)])
    assert (again.applied, again.duplicates) == (0, 1)


def test_a_kafka_payload_that_is_json_but_no_object_is_an_unusable_event(agg_engine: Engine) -> None:
    """JSON that is not an object passes the envelope (as it did when the source parsed it): the event is
    claimed and dead-lettered with its id, as from the SQL log."""
    event = _accepted(inspection(enterprise=1), "array")
    done = apply_batch(agg_engine, "t", [_from_kafka(0, event, b"[1, 2]")])
    assert done.dead_letters == 1 and done.rejected[0][0].event is not None
    assert _claims(agg_engine) == {"array": (0, 0)}


@pytest.mark.timeout(120)  # a COPY left open makes the rollback wait for ever on the connection's lock
def test_a_batch_that_fails_midway_writes_nothing_and_the_next_try_applies_it(
    agg_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL new facts stream to the server through a COPY while the batch is still being read: an
    error after hundreds of them were sent (and a dead letter that ended one COPY and a later one that
    started another) must still leave nothing of the batch, and the connection fit for the retry."""
    events = [_accepted(inspection(enterprise=i), f"e{i}") for i in range(400)]
    batch = [Delivery(0, i, e) for i, e in enumerate(events)]
    batch[150] = _from_kafka(150, events[150], b"not json")  # a dead letter between two runs of new facts
    real = Store.add_new_fact
    calls = {"n": 0}

    def failing(self: Store, *args: Any) -> None:
        # in the transaction, after 349 new facts went to the server (the rows were derived before it began)
        calls["n"] += 1
        if calls["n"] == 350:
            raise RuntimeError("the apply step fails midway")
        real(self, *args)

    monkeypatch.setattr(Store, "add_new_fact", failing)
    with pytest.raises(RuntimeError, match="midway"):
        apply_batch(agg_engine, "t", batch)
    with agg_engine.connect() as conn:
        for table in (facts, processed_events, dead_letters, daily):
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0, table.name
        assert stored_positions(conn, "t") == {}
    monkeypatch.setattr(Store, "add_new_fact", real)
    done = apply_batch(agg_engine, "t", batch)
    assert (done.applied, done.dead_letters) == (399, 1)
    assert _inspections(agg_engine) == 399
    assert verify(agg_engine).ok
