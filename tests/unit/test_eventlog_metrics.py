"""outbox_metrics: backlog, age of the oldest unpublished row, published total and the relay's counters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.common.db import make_engine
from services.common.migrate import upgrade
from services.eventlog import outbox as ob
from services.eventlog.envelope import Event
from services.eventlog.metrics import outbox_metrics
from services.eventlog.relay import Relay

T0 = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)


class Flaky:
    """A publisher that fails while ``down`` is set."""

    down = False
    sent: list[str] = []

    def publish(self, events: Sequence[Event]) -> None:
        if Flaky.down:
            raise ConnectionError("broker unreachable")
        Flaky.sent.extend(e.id for e in events)

    def close(self) -> None:
        return None


def _event(i: int) -> Event:
    return Event.new(
        "org.ilo.score.test.v1", "/test", f"s{i}", f"k{i % 2}", {"n": i}, time=T0 + timedelta(minutes=i)
    )


def test_outbox_metrics_follow_the_relay(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'intake.db'}")
    upgrade("intake", engine)
    assert outbox_metrics(engine) == {
        "event_log": "kafka",
        "backlog": 0,
        "oldest_unpublished_age_seconds": None,
        "published_total": 0,
        "last_position": 0,
    }
    with engine.begin() as conn:
        ob.append(conn, [_event(i) for i in range(5)])
    relay = Relay(engine, Flaky, batch_size=2, holder="relay-m")
    now = T0 + timedelta(hours=1)
    m = outbox_metrics(engine, relay, now=now)
    assert (m["backlog"], m["published_total"], m["last_position"]) == (5, 0, 5)
    assert m["oldest_unpublished_age_seconds"] == 3600.0  # the first row in log order, event 0
    assert m["relay"] == {"holder": "relay-m", "published": 0, "errors": 0, "last_error": None}

    assert relay.run_once() == 2
    m = outbox_metrics(engine, relay, now=now)
    assert (m["backlog"], m["published_total"]) == (3, 2)
    assert m["oldest_unpublished_age_seconds"] == 3600.0 - 120  # now event 2 is the oldest waiting
    assert m["relay"]["published"] == 2

    Flaky.down = True
    try:
        with pytest.raises(ConnectionError):
            relay.run_once()
    finally:
        Flaky.down = False
    assert outbox_metrics(engine)["backlog"] == 3  # nothing marked when the publish failed

    relay.drain(10)
    m = outbox_metrics(engine, relay)
    assert (m["backlog"], m["published_total"], m["oldest_unpublished_age_seconds"]) == (0, 5, None)
    assert m["relay"]["published"] == 5


def test_the_embedded_sql_log_has_no_backlog_only_an_end(tmp_path: Path) -> None:
    """Without a relay nothing is ever published: rows are the log, not a queue that looks stuck."""
    engine = make_engine(f"sqlite:///{tmp_path / 'intake.db'}")
    upgrade("intake", engine)
    empty = outbox_metrics(engine, relayed=False)
    with engine.begin() as conn:
        ob.append(conn, [_event(i) for i in range(3)])
    m = outbox_metrics(engine, relayed=False, now=T0 + timedelta(days=30))
    assert (empty["last_position"], m["last_position"]) == (0, 3)
    for out in (empty, m):
        assert out["event_log"] == "sql"
        assert (out["backlog"], out["oldest_unpublished_age_seconds"], out["published_total"]) == (
            None,
            None,
            None,
        )
        assert out["note"].startswith("no relay")
    assert outbox_metrics(engine)["backlog"] == 3  # the same rows, seen as a relay's queue
