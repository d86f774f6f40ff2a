"""The relay: outbox rows -> Kafka, in position order, marked published only after the broker's ack.

Several relays may run for availability, but only the holder of the ``relay_lease`` row publishes: rows
then leave in one order and no two relays interleave.  The lease outlives the producer's delivery timeout,
so a relay that stalls gives up before another may take over.  A crash between the broker's ack and the
mark re-sends those rows on restart: delivery is at least once and consumers dedupe on ``ce_id``.

With Kafka's producer (``send`` without waiting) the relay does not stop and wait after each batch: it keeps
up to ``window`` batches in flight on the one producer, whose idempotence keeps each partition's records in
the order sent, and marks a batch published once every record of it was acknowledged, oldest batch first; a
delivery error stops it before anything after the failed batch is marked, and those rows are sent again.
Rows are marked by their positions, never by a position range: without the advisory lock (Kafka mode) a
row may commit after rows with higher positions, and a range could mark it published unsent.  Such a late
row is found when the window drains (at least every ``window * 4`` batches), as it was between batches.
The lease is renewed by time (every quarter of its length), not per batch.  When idle on PostgreSQL the
relay LISTENs: an outbox insert notifies on commit and wakes it at once instead of after its idle poll.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import BigInteger, Engine, any_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError

from services.common.backoff import retry_forever
from services.eventlog import outbox as ob
from services.eventlog.envelope import Event

log = logging.getLogger(__name__)

LEASE_NAME = "outbox"


class Publisher(Protocol):
    def publish(self, events: Sequence[Event]) -> None: ...

    def close(self) -> None: ...


@dataclass
class RelayMetrics:
    published: int = 0
    errors: int = 0
    last_error: str | None = None


def _iso(t: datetime) -> str:
    # Fixed width (always microseconds): lease times are compared as strings, and isoformat() drops the
    # fraction when it is zero, so "...:30Z" would sort after "...:30.5Z".
    return t.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Relay:
    def __init__(
        self,
        engine: Engine,
        publisher_factory: Callable[[], Publisher],
        batch_size: int = 500,
        lease_seconds: float = 60.0,
        holder: str | None = None,
        window: int = 4,
        ack_timeout: float = 30.0,
    ) -> None:
        self._engine = engine
        #: batches in flight at once (sent, not yet all acknowledged)
        self.window = window
        #: longest wait for one record's acknowledgement; the producer's own delivery timeout (20 s) ends
        #: a stuck send first, and both stay inside the lease
        self.ack_timeout = ack_timeout
        self._factory = publisher_factory
        self._publisher: Publisher | None = None
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.metrics = RelayMetrics()
        self._listener: Any = None  # a psycopg connection LISTENing on outbox.CHANNEL (PostgreSQL)

    # -- leadership ------------------------------------------------------------------------------------
    def acquire_lease(self) -> bool:
        now = datetime.now(UTC)
        expires = _iso(now + timedelta(seconds=self.lease_seconds))
        lease = ob.relay_lease
        with self._engine.begin() as conn:
            taken = conn.execute(
                update(lease)
                .where(lease.c.name == LEASE_NAME)
                .where((lease.c.holder == self.holder) | (lease.c.expires_at < _iso(now)))
                .values(holder=self.holder, expires_at=expires)
            ).rowcount
            if taken:
                return True
            exists = conn.execute(select(lease.c.name).where(lease.c.name == LEASE_NAME)).first()
        if exists:
            return False
        try:
            with self._engine.begin() as conn:
                conn.execute(lease.insert().values(name=LEASE_NAME, holder=self.holder, expires_at=expires))
            return True
        except IntegrityError:
            return False  # another relay created it first

    def release_lease(self) -> None:
        lease = ob.relay_lease
        with self._engine.begin() as conn:
            conn.execute(
                update(lease)
                .where(lease.c.name == LEASE_NAME, lease.c.holder == self.holder)
                .values(expires_at=_iso(datetime.fromtimestamp(0, UTC)))
            )

    # -- work ------------------------------------------------------------------------------------------
    def _get_publisher(self) -> Publisher:
        if self._publisher is None:
            self._publisher = self._factory()
        assert self._publisher is not None
        return self._publisher

    def run_once(self) -> int:
        """Publish one batch if this relay holds the lease. Returns the number of rows published."""
        if not self.acquire_lease():
            return 0
        rows = self._unpublished(after=None)
        if not rows:
            return 0
        events = [ob.row_to_event(r) for r in rows]
        self._get_publisher().publish(events)
        self._mark([r.position for r in rows])
        self.metrics.published += len(rows)
        return len(rows)

    def _unpublished(self, after: int | None) -> Sequence[Any]:
        """The next batch of unpublished rows in position order (only past ``after``, when given)."""
        t = ob.outbox
        query = select(t).where(t.c.published_at.is_(None))
        if after is not None:
            query = query.where(t.c.position > after)
        with self._engine.connect() as conn:
            return conn.execute(query.order_by(t.c.position).limit(self.batch_size)).all()

    def _mark(self, positions: list[int]) -> None:
        t = ob.outbox
        with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # one array parameter, not one bind parameter per row
                wanted = bindparam("positions", positions, type_=ARRAY(BigInteger))
                where = t.c.position == any_(wanted)
            else:
                where = t.c.position.in_(positions)
            conn.execute(update(t).where(where).values(published_at=ob.utcnow()))

    def pump(self, stop: Callable[[], bool] = lambda: False) -> int:
        """Publish until nothing is left to send and nothing is in flight (or ``stop()``, or the lease is
        lost); returns the rows published.  With a publisher that can ``send`` without waiting (Kafka's),
        batches go back to back with up to ``window`` in flight; otherwise one batch at a time."""
        publisher = self._get_publisher()
        send = getattr(publisher, "send", None)
        if not callable(send):
            total = 0
            while not stop() and (n := self.run_once()):
                total += n
            return total
        inflight: deque[tuple[list[int], list[Any]]] = deque()
        total = 0
        renewed = float("-inf")
        last_sent: int | None = None  # position of the last row sent while the window stayed open
        since_drained = 0
        while True:
            rows: Sequence[Any] = []
            now = time.monotonic()
            if now - renewed >= self.lease_seconds / 4:
                if not self.acquire_lease():
                    stop = lambda: True  # noqa: E731 - lost the lease: finish what is in flight, send nothing
                else:
                    renewed = now
            if len(inflight) < self.window and since_drained < self.window * 4 and not stop():
                rows = self._unpublished(after=last_sent)
            if rows:
                inflight.append(([r.position for r in rows], send([ob.row_to_event(r) for r in rows])))
                last_sent = rows[-1].position
                since_drained += 1
            # retire finished batches oldest first; when nothing new went out, wait for the oldest
            while inflight and (not rows or all(f.is_done for f in inflight[0][1])):
                positions, futures = inflight.popleft()
                for f in futures:
                    f.get(timeout=self.ack_timeout)  # raises the delivery error: nothing after it is marked
                self._mark(positions)
                self.metrics.published += len(positions)
                total += len(positions)
                if not rows:
                    break
            if not inflight:
                # the window drained: read from the first unpublished row again, so a row that committed
                # behind one already sent (positions are not commit order without the advisory lock) goes
                last_sent, since_drained = None, 0
                if not rows:
                    return total

    def drain(self, timeout: float = 60.0) -> int:
        """Publish until the outbox is empty (tests, ``score relay --drain``)."""
        deadline = time.monotonic() + timeout
        total = 0
        while time.monotonic() < deadline:
            n = self.pump(stop=lambda: time.monotonic() >= deadline)
            total += n
            if n == 0 and self.backlog() == 0:
                return total
        raise TimeoutError(f"outbox not drained after {timeout}s, backlog {self.backlog()}")

    def backlog(self) -> int:
        t = ob.outbox
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).where(t.c.published_at.is_(None))).scalar_one())

    def run_forever(self, stop: threading.Event, idle_seconds: float = 0.2) -> None:
        def attempt() -> None:
            if self.pump(stop.is_set) == 0:
                self._wait_for_rows(stop, idle_seconds)

        retry_forever(stop, attempt, self._failed)  # broker or database down: wait and retry, never drop
        self._stop_listening()
        self._reset_publisher()
        try:
            self.release_lease()  # a clean stop hands over at once instead of after the lease runs out
        except Exception:
            log.warning("could not release the relay lease; it expires in %.0fs", self.lease_seconds)

    def _wait_for_rows(self, stop: threading.Event, idle_seconds: float) -> None:
        """Idle: wait up to ``idle_seconds``, woken at once when an outbox insert commits (PostgreSQL's
        LISTEN/NOTIFY on ``outbox.CHANNEL``; on SQLite, or when listening fails, just the wait)."""
        if self._engine.dialect.name != "postgresql":
            stop.wait(idle_seconds)
            return
        try:
            if self._listener is None:
                raw = self._engine.raw_connection()
                conn: Any = raw.driver_connection  # the psycopg connection (None once detached)
                raw.detach()  # our own connection for as long as we listen, not the pool's
                self._listener = conn
                conn.autocommit = True
                conn.execute(f"LISTEN {ob.CHANNEL}")
                return  # listening from now: look at the outbox once more before waiting
            # in slices, so that setting ``stop`` ends the wait within half a second
            until = time.monotonic() + idle_seconds
            while not stop.is_set() and (left := until - time.monotonic()) > 0:
                if list(self._listener.notifies(timeout=min(left, 0.5), stop_after=1)):
                    return
        except Exception as exc:  # noqa: BLE001 - the database is down: the poll below finds out and backs off
            log.debug("cannot listen for outbox inserts (%s); polling", exc)
            self._stop_listening()
            stop.wait(idle_seconds)

    def _stop_listening(self) -> None:
        _close_quietly(self._listener, "the listening connection")
        self._listener = None

    def _failed(self, exc: Exception, wait: float) -> None:
        self.metrics.errors += 1
        self.metrics.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("relay publish failed, retrying in %.1fs: %s", wait, self.metrics.last_error)
        self._reset_publisher()  # a producer that saw the broker fail is not trusted again

    def _reset_publisher(self) -> None:
        _close_quietly(self._publisher, "the publisher")
        self._publisher = None


def _close_quietly(thing: Any, what: str) -> None:
    """Close a connection given up on: it may well fail (that is often why), and nothing waits for it."""
    if thing is not None:
        try:
            thing.close()
        except Exception:  # noqa: BLE001
            log.debug("closing %s failed", what, exc_info=True)
