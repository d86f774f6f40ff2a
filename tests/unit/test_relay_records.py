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


class Acked:
    """A record future already acknowledged (the broker's side is tested on the real one)."""

    is_done = True

    def failed(self) -> bool:
        return False

    def get(self, timeout: float | None = None) -> None:
        return None


class Sink:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send_records(self, records: list[tuple[bytes, bytes, object]]) -> list[Acked]:
        self.sent.extend(value for _, value, _ in records)
        return [Acked() for _ in records]

    def close(self) -> None:
        return None


def test_the_pipelined_path_on_sqlite_publishes_everything_once_and_leaves_the_database_writable(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'intake.db'}")
    upgrade("intake", engine)
    with engine.begin() as conn:
        outbox.append(conn, [Event.new("t", "/s", str(i), f"k{i % 3}", {"i": i}) for i in range(23)])
    sink = Sink()
    relay = Relay(engine, lambda: sink, batch_size=4, window=2, holder="p")  # type: ignore[arg-type,return-value]
    assert relay.pump() == 23
    assert relay.backlog() == 0
    assert sorted(sink.sent) == sorted(set(sink.sent)) and len(sink.sent) == 23
    # the relay's autocommit connections left no transaction open: another writer gets in at once
    with engine.begin() as conn:
        outbox.append(conn, [Event.new("t", "/s", "late", "k", {"i": 99})])
    assert relay.pump() == 1
