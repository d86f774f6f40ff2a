"""The retry loop the relay and the consumer share: waits that double up to a ceiling, reset by a success,
and a stop that ends the loop.  The waits are recorded, not slept."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from services.common.backoff import Backoff, retry_forever
from services.common.db import make_engine
from services.common.migrate import upgrade
from services.eventlog import outbox
from services.eventlog.envelope import Event
from services.eventlog.relay import Relay


class RecordedStop(threading.Event):
    """A stop event whose waits return at once and are written down."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return self.is_set()


def test_waits_double_up_to_the_ceiling_and_a_success_starts_again() -> None:
    b = Backoff(first=0.5, most=10.0)
    assert [b.failed() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    b.succeeded()
    assert [b.failed() for _ in range(2)] == [0.5, 1.0]


def test_every_failure_is_reported_and_waited_for_and_a_success_resets_the_wait() -> None:
    stop = RecordedStop()
    outcomes: list[Exception | None] = [
        ConnectionError("broker down"),
        OSError("still down"),
        None,
        TimeoutError("down again"),
        None,
    ]
    remaining = list(outcomes)
    reported: list[tuple[str, float]] = []

    def attempt() -> None:
        outcome = remaining.pop(0)
        if not remaining:
            stop.set()
        if outcome is not None:
            raise outcome

    retry_forever(stop, attempt, lambda exc, wait: reported.append((str(exc), wait)))

    assert remaining == []  # every attempt ran, and none after the stop
    assert reported == [("broker down", 0.5), ("still down", 1.0), ("down again", 0.5)]
    assert stop.waits == [0.5, 1.0, 0.5]  # only failures wait; the loop itself never sleeps after a success


def test_a_stop_set_before_the_loop_starts_means_no_attempt() -> None:
    stop = RecordedStop()
    stop.set()
    calls: list[int] = []
    retry_forever(stop, lambda: calls.append(1), lambda exc, wait: pytest.fail(f"unexpected failure {exc}"))
    assert calls == [] and stop.waits == []


def test_a_failure_while_stopping_ends_the_loop_after_it_is_reported() -> None:
    stop = RecordedStop()
    reported: list[float] = []

    def attempt() -> None:
        stop.set()
        raise RuntimeError("database went away during shutdown")

    retry_forever(stop, attempt, lambda exc, wait: reported.append(wait))
    assert reported == [0.5] and stop.waits == [0.5]


def test_the_ceiling_and_first_wait_are_the_callers() -> None:
    stop = RecordedStop()
    left = [RuntimeError("x")] * 4

    def attempt() -> None:
        exc = left.pop()
        if not left:
            stop.set()
        raise exc

    retry_forever(stop, attempt, lambda exc, wait: None, Backoff(first=1.0, most=3.0))
    assert stop.waits == [1.0, 2.0, 3.0, 3.0]


class FlakyPublisher:
    """Fails its first ``failures`` publishes, as a broker that is down; counts how often it was closed."""

    def __init__(self, failures: int, stop: threading.Event) -> None:
        self.failures, self.stop = failures, stop
        self.sent: list[str] = []
        self.closed = 0

    def publish(self, events: Sequence[Event]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker down")
        self.sent.extend(e.id for e in events)
        self.stop.set()

    def close(self) -> None:
        self.closed += 1


def test_the_relay_waits_longer_after_each_failure_counts_it_and_drops_the_broken_producer(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'intake.db'}")
    upgrade("intake", engine)
    with engine.begin() as conn:
        outbox.append(conn, [Event.new("t", "/s", str(i), "k", {"i": i}) for i in range(2)])
    stop = RecordedStop()
    publisher = FlakyPublisher(failures=3, stop=stop)
    relay = Relay(engine, lambda: publisher, holder="a")

    relay.run_forever(stop, idle_seconds=0.01)

    assert len(publisher.sent) == 2 and relay.backlog() == 0  # nothing dropped
    assert stop.waits == [0.5, 1.0, 2.0]
    assert (relay.metrics.errors, relay.metrics.last_error) == (3, "ConnectionError: broker down")
    assert publisher.closed == 4  # after each failure, and once more when the loop ends
