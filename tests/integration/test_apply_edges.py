"""Edges of the batch apply: the bulk path for new facts must never count a submission twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from services.aggregator.service_layer.apply import PositionGap, apply_batch
from services.aggregator.service_layer.verify import verify
from services.aggregator.views import district_report, period_of, stored_positions
from services.common.db import make_engine
from services.common.migrate import upgrade
from services.eventlog.envelope import Event
from services.eventlog.source import Delivery
from tests.builders import inspection


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
