"""The relay: outbox rows -> Kafka, in position order, marked published only after the broker's ack.

Several relays may run for availability, but only the holder of the ``relay_lease`` row publishes: rows
then leave in one order and no two relays interleave.  The lease outlives the producer's delivery timeout,
so a relay that stalls gives up before another may take over.  A crash between the broker's ack and the
mark re-sends those rows on restart: delivery is at least once and consumers dedupe on ``ce_id``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import Engine, func, select, update
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
    ) -> None:
        self._engine = engine
        self._factory = publisher_factory
        self._publisher: Publisher | None = None
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.metrics = RelayMetrics()

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
        t = ob.outbox
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(t).where(t.c.published_at.is_(None)).order_by(t.c.position).limit(self.batch_size)
            ).all()
        if not rows:
            return 0
        events = [ob.row_to_event(r) for r in rows]
        self._get_publisher().publish(events)
        with self._engine.begin() as conn:
            conn.execute(
                update(t).where(t.c.position.in_([r.position for r in rows])).values(published_at=ob.utcnow())
            )
        self.metrics.published += len(rows)
        return len(rows)

    def drain(self, timeout: float = 60.0) -> int:
        """Publish until the outbox is empty (tests, ``score relay --drain``)."""
        deadline = time.monotonic() + timeout
        total = 0
        while time.monotonic() < deadline:
            n = self.run_once()
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
            if self.run_once() == 0:
                stop.wait(idle_seconds)

        retry_forever(stop, attempt, self._failed)  # broker or database down: wait and retry, never drop
        self._reset_publisher()
        try:
            self.release_lease()  # a clean stop hands over at once instead of after the lease runs out
        except Exception:
            log.warning("could not release the relay lease; it expires in %.0fs", self.lease_seconds)

    def _failed(self, exc: Exception, wait: float) -> None:
        self.metrics.errors += 1
        self.metrics.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("relay publish failed, retrying in %.1fs: %s", wait, self.metrics.last_error)
        self._reset_publisher()  # a producer that saw the broker fail is not trusted again

    def _reset_publisher(self) -> None:
        if self._publisher is not None:
            try:
                self._publisher.close()
            except Exception:  # noqa: BLE001
                log.debug("closing publisher failed", exc_info=True)
            self._publisher = None
