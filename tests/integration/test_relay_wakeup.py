"""An idle relay on PostgreSQL is woken by the commit of an outbox insert (LISTEN/NOTIFY), not by its poll."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from services.common.db import make_engine
from services.common.migrate import upgrade
from services.eventlog import outbox
from services.eventlog.envelope import Event
from services.eventlog.relay import Relay
from tests.servers import PostgresServer

pytestmark = pytest.mark.postgres

IDLE = 120.0  # the relay's poll when idle: far longer than the test waits, so only a wake-up can pass it


class Recorder:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def publish(self, events: Sequence[Event]) -> None:
        self.sent.extend(e.id for e in events)

    def close(self) -> None:
        return None


def test_an_idle_relay_publishes_as_soon_as_an_outbox_insert_commits(postgres_server: PostgresServer) -> None:
    engine = make_engine(postgres_server.fresh_database("relay_wakeup"))
    upgrade("intake", engine)
    sink = Recorder()
    relay = Relay(engine, lambda: sink, holder="w")
    stop = threading.Event()
    runner = threading.Thread(target=relay.run_forever, args=(stop, IDLE))
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while relay._listener is None:  # listening (after its first empty look at the outbox)
            assert runner.is_alive() and time.monotonic() < deadline, "the relay never started listening"
            time.sleep(0.05)
        time.sleep(0.5)  # let it get into its idle wait (a wake-up before that would pass anyway)
        committed = time.monotonic()
        with engine.begin() as conn:
            outbox.append(conn, [Event.new("t", "/s", str(i), "k", {"i": i}) for i in range(3)])
        while len(sink.sent) < 3:
            assert time.monotonic() - committed < IDLE / 4, "not published until the idle poll"
            time.sleep(0.01)
        assert len(sink.sent) == 3
        stop.set()
        runner.join(timeout=30)  # a stop ends the idle wait at once, not after IDLE
        assert not runner.is_alive(), "the relay did not stop while idle"
    finally:
        stop.set()
        runner.join(timeout=IDLE + 30)
    assert relay._listener is None  # a clean stop closes the listening connection
