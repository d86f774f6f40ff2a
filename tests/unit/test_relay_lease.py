"""The relay's single-leader lease, on SQLite with a fake publisher (the real broker is in integration)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from services.common.db import make_engine
from services.common.migrate import upgrade
from services.eventlog import outbox
from services.eventlog.envelope import Event
from services.eventlog.relay import Relay


class Recorder:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def publish(self, events: Sequence[Event]) -> None:
        self.sent.extend(e.id for e in events)

    def close(self) -> None:
        return None


def _relay(engine: object, holder: str, sink: Recorder) -> Relay:
    return Relay(engine, lambda: sink, holder=holder, lease_seconds=60)  # type: ignore[arg-type]


def test_only_the_lease_holder_publishes_and_a_clean_stop_hands_over_at_once(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'intake.db'}")
    upgrade("intake", engine)
    with engine.begin() as conn:
        outbox.append(conn, [Event.new("t", "/s", str(i), "k", {"i": i}) for i in range(3)])
    a_sink, b_sink = Recorder(), Recorder()
    a, b = _relay(engine, "a", a_sink), _relay(engine, "b", b_sink)

    assert a.run_once() == 3
    assert b.run_once() == 0  # a holds the lease for 60 s
    assert not b.acquire_lease()

    stop = threading.Event()
    runner = threading.Thread(target=a.run_forever, args=(stop, 0.01))
    runner.start()
    stop.set()
    runner.join(timeout=10)
    assert b.acquire_lease()  # released on a clean stop: no 60 s wait
    assert (len(a_sink.sent), b_sink.sent) == (3, [])
