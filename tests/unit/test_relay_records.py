"""The relay builds Kafka records straight from outbox rows: the same bytes as the event's own methods."""

from __future__ import annotations

from pathlib import Path

from services.common.db import make_engine
from services.common.migrate import upgrade
from services.eventlog import outbox
from services.eventlog.envelope import Event
from services.eventlog.relay import Relay, _records


def test_records_from_rows_are_the_events_key_value_and_headers(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'intake.db'}")
    upgrade("intake", engine)
    events = [
        Event.new(
            f"org.ilo.score.t{i}.v1", f"/src/{i}", f"subject-{i}", f"key-{i % 3}", {"i": i, "名": "永康"}
        )
        for i in range(7)
    ]
    with engine.begin() as conn:
        outbox.append(conn, events)
    rows = Relay(engine, lambda: None, holder="r")._unpublished(after=None)  # type: ignore[arg-type,return-value]
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    assert _records(rows) == [(e.kafka_key(), e.kafka_value(), e.kafka_headers()) for e in events]
    # and every attribute travels: a header per CloudEvents attribute, in the documented names
    assert [name for name, _ in _records(rows)[0][2]] == [
        "ce_specversion",
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_time",
        "ce_subject",
        "content-type",
    ]
