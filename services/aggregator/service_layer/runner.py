"""The consume loop: poll the log, apply a batch, repeat.

After a failed batch the source is sent back to where that batch began, which the consumer knows without
asking its database (the database being down is the usual reason a batch fails).  Where the batch did not
follow the stored position, the transaction refused it and said where to resume.

While catching up (the loops, not a single ``step``) the consumer reads and decodes the next batch while the
previous one is being written: its transaction runs on a second thread, which mostly waits for PostgreSQL,
so the database's work and this process's overlap on two cores.  One transaction at a time, in log order,
as before; a batch read ahead is dropped, and the source rewound, if the one before it fails.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import Engine

from services.aggregator.adapters.store import Store
from services.aggregator.service_layer.apply import (
    BatchResult,
    PositionGap,
    Prepared,
    Tally,
    apply_batch,
    batch_start,
    prepare,
)
from services.common.backoff import retry_forever
from services.eventlog.source import Delivery, EventSource, PositionOf

log = logging.getLogger(__name__)

#: the interpreter's thread switch interval while the apply thread runs (CPython's default: 5 ms).  The apply
#: thread mostly waits for PostgreSQL, but psycopg takes the interpreter lock back after every send and receive
#: of a statement, and the polling thread holds it for up to the whole interval each time: at 5 ms a batch's
#: statements took 2-3x the server's CPU time in wall time.  Too short costs too: since the polling thread
#: parses and derives the next batch (``apply.prepare``) both threads run Python, and each hand-over of the
#: lock is work.  ``bench.run --only aggregator`` (100,000 events, one process as deployed), back to back on a
#: quiet machine: 0.1 ms 10,323/s (consumer 91 us CPU an event), 1 ms 11,930 and 11,740/s (74 and 76 us),
#: 2 ms 11,352/s (75 us), 5 ms 9,860/s (83 us).
APPLY_SWITCH_INTERVAL = 0.001


@dataclass
class ConsumerStats(Tally):
    errors: int = 0
    #: batches refused because they did not follow the stored position (each is an ERROR in the log)
    gaps_refused: int = 0
    last_error: str | None = None


def position_reader(engine: Engine, source_name: str) -> PositionOf:
    def position_of(partition: int) -> int | None:
        with engine.connect() as conn:
            return Store(conn).position(source_name, partition)

    return position_of


def _at_least(stored: int | None, end: int) -> bool:
    return (-1 if stored is None else stored) >= end


class Consumer:
    def __init__(
        self,
        engine: Engine,
        source_name: str,
        make_source: Callable[[PositionOf], EventSource],
        batch_size: int = 500,
        dead_letter_sink: Callable[[list[tuple[Delivery, str]]], None] | None = None,
        rollup_publisher: Callable[[], int] | None = None,
        rollup_interval: float = 5.0,
        max_batch_size: int = 20000,
        rollup_max_delay: float = 60.0,
    ) -> None:
        self.engine = engine
        self.source_name = source_name
        self.source = make_source(position_reader(engine, source_name))
        self._batch_size = batch_size
        self.dead_letter_sink = dead_letter_sink
        self.rollup_publisher = rollup_publisher
        self.rollup_interval = rollup_interval
        self.rollup_max_delay = rollup_max_delay
        self._rollups_published_at = 0.0
        #: while catching up the first snapshots wait ``rollup_max_delay`` from here, not from the epoch of
        #: ``time.monotonic()``: a consumer (re)started behind the log published every changed report after its
        #: first batch (2 s of a 13 s, 50,000-event catch-up in a profile), only to publish them again at the end
        self._started_at = time.monotonic()
        #: while a poll keeps returning full batches the consumer is catching up: it asks for larger ones
        #: (one transaction's fixed cost shared by more events), back to ``batch_size`` once caught up.  Up to
        #: 20,000: a batch's events share cells, so fewer rows are upserted per event (200,000 bench events:
        #: 51,000 cell rows instead of 80,000 at 10,000, PostgreSQL 54 against 59 us an event)
        self.max_batch_size = max(batch_size, max_batch_size)
        self._asking = batch_size
        self.stats = ConsumerStats()
        # the batch being written on the apply thread while the next one is read (pipelined loops only)
        self._inflight: tuple[Future[BatchResult], Sequence[Delivery], bool] | None = None
        self._applier: ThreadPoolExecutor | None = None
        self._switch_interval = sys.getswitchinterval()
        #: snapshots due after a settled batch, published once the next one is on its way (``_publish_deferred``)
        self._snapshots_due = False

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @batch_size.setter
    def batch_size(self, n: int) -> None:
        """Pin the batch size: a caller that sets one (a test interleaving small batches) gets exactly it."""
        self._batch_size = self.max_batch_size = self._asking = n

    def step(self, timeout: float = 0.5, pipelined: bool = False) -> int:
        """One poll and one transaction; returns how many records were handled.

        ``pipelined``: while catching up, hand the batch's transaction to the apply thread and return at once;
        the next step polls, then waits for it (and raises its error, after rewinding the source to where
        that batch began, dropping what it just polled).  Without it (the default) a step returns with its
        batch committed; a caught-up batch is always applied before ``step`` returns."""
        asked = max(self.batch_size, min(self._asking, self.max_batch_size))
        deliveries = self.source.poll(asked, timeout)
        # the batch's payloads parsed and its new facts derived here, while the batch before it is written
        # on the apply thread: that thread then mostly waits for PostgreSQL instead of running Python
        prepared = prepare(deliveries)
        # a failure here has rewound the source: what was just polled is dropped with it.  Snapshots due now
        # wait until the next batch is on its way (below): computing them takes seconds while catching up
        self.settle(defer_snapshots=True)
        if not deliveries:
            self._asking = self.batch_size
            # An empty poll while behind is a fetch still on its way.  Idle here is not idle everywhere: with
            # several members in the group, one whose partitions are done would publish every changed report
            # while the others are still catching up (a third of that member's CPU, and report queries
            # competing with their writes, in a profile of two processes): it publishes as if catching up
            # until the positions every member stored reach the end of the log.
            behind = self._behind(False) or (self.rollup_publisher is not None and not self._log_caught_up())
            self._publish_deferred()
            self._maybe_publish_rollups(idle=not behind, catching_up=behind)
            return 0
        catching_up = self._behind(len(deliveries) >= asked)
        self._asking = asked * 2 if catching_up else self.batch_size
        if pipelined and catching_up:
            if self._applier is None:
                self._applier = ThreadPoolExecutor(1, thread_name_prefix="aggregator-apply")
                self._switch_interval = sys.getswitchinterval()
                sys.setswitchinterval(APPLY_SWITCH_INTERVAL)
            future = self._applier.submit(self._apply, deliveries, prepared)
            self._inflight = (future, deliveries, catching_up)
            self._publish_deferred()  # while that batch is written on the apply thread
            return len(deliveries)
        try:
            result = self._apply(deliveries, prepared)
        except Exception as exc:
            self._failed_batch(exc, deliveries)
            raise
        self._applied(result, catching_up)
        self._publish_deferred()
        return len(deliveries)

    def _apply(self, deliveries: Sequence[Delivery], prepared: Prepared) -> BatchResult:
        """The batch's transaction (on the apply thread when pipelined: it touches the database only)."""
        return apply_batch(
            self.engine,
            self.source_name,
            deliveries,
            track_rollups=self.rollup_publisher is not None,
            prepared=prepared,
        )

    def _failed_batch(self, exc: BaseException, deliveries: Sequence[Delivery]) -> None:
        """Send the source back to where a batch that failed must be read again (on the polling thread: a
        KafkaConsumer is not thread-safe)."""
        if isinstance(exc, PositionGap):
            self.stats.gaps_refused += 1
            log.error("batch refused, read again after the stored positions %s: %s", exc.resume_after, exc)
            self.source.rewind(exc.resume_after)
        else:
            # Nothing of the batch was written: read it again from where it began.
            self.source.rewind(batch_start(deliveries))

    def settle(self, defer_snapshots: bool = False) -> None:
        """Wait for the batch in flight, if any, and finish it: stats, lag commit, dead letters, snapshots
        (with ``defer_snapshots``, only noted as due: ``step`` publishes them once the next batch is on its
        way); or rewind the source and raise its error."""
        if self._inflight is None:
            return
        future, deliveries, catching_up = self._inflight
        self._inflight = None
        try:
            result = future.result()
        except Exception as exc:
            self._failed_batch(exc, deliveries)
            raise
        self._applied(result, catching_up, defer_snapshots)

    def _applied(self, result: BatchResult, catching_up: bool, defer_snapshots: bool = False) -> None:
        self.stats.add(result)
        self.source.committed(result.positions)
        if result.rejected and self.dead_letter_sink is not None:
            # The dead_letters table (same transaction as the positions) is the record; the topic is a copy
            # for operators and integrators, sent after commit and retried by nobody if this fails.
            try:
                self.dead_letter_sink(result.rejected)
            except Exception:
                log.exception("forwarding %d dead letters to the topic failed", len(result.rejected))
        self._maybe_publish_rollups(idle=False, catching_up=catching_up, defer=defer_snapshots)

    def _publish_deferred(self) -> None:
        """Publish the snapshots a settled batch made due (``settle(defer_snapshots=True)``).  Called once the
        next batch is on the apply thread: the reports they read (seconds of them while catching up, in a
        profile of a 1,000,000-event replay) are then computed while that batch is written, where the apply
        thread used to wait for them.  A snapshot reads what is committed; one that a batch changes while it
        is computed stays marked for the next (``rollup_topic``: cleared only if its version is unchanged)."""
        if self._snapshots_due:
            self._snapshots_due = False
            self.publish_rollups()

    def _behind(self, full_batch: bool) -> bool:
        """Is the log ahead of this consumer?  Kafka's fetches say so (a poll returns what is buffered, so a
        short batch does not mean caught up there); other sources return full batches while behind."""
        behind = getattr(self.source, "behind", None)
        answer = behind() if callable(behind) else None
        return full_batch if answer is None else bool(answer)

    def _maybe_publish_rollups(self, idle: bool, catching_up: bool = False, defer: bool = False) -> None:
        # Snapshots are whole reports: while catching up, computing them cost more than applying the events
        # (70% of a replay's time in a profile), and each would be stale at once.  So: when idle; when caught
        # up (a short batch), at most every ``rollup_interval`` seconds; while catching up only after
        # ``rollup_max_delay`` seconds, so a log that never lets the consumer catch up still gets them.
        now = time.monotonic()
        since = now - self._rollups_published_at
        if catching_up:
            since = min(since, now - self._started_at)
        if idle or since >= (self.rollup_max_delay if catching_up else self.rollup_interval):
            self._rollups_published_at = now
            if defer:
                self._snapshots_due = True
            else:
                self.publish_rollups()

    def publish_rollups(self) -> int:
        """Send the changed rollups' snapshots; a failure leaves them marked for the next step."""
        if self.rollup_publisher is None:
            return 0
        try:
            return self.rollup_publisher()
        except Exception:
            log.exception("publishing rollup snapshots failed; they stay marked and are retried")
            return 0

    def caught_up(self) -> bool:
        """True when the positions stored in the database reach the end of every partition of the log
        (whichever group member applied them)."""
        ends = self.source.end_positions()
        if not ends:
            return False
        with self.engine.connect() as conn:
            store = Store(conn)
            stored = {p: store.position(self.source_name, p) for p in ends}
        return all(_at_least(stored[p], end) for p, end in ends.items())

    def _log_caught_up(self) -> bool:
        """``caught_up``, False when it cannot be told (a broker or database down: nothing to publish then)."""
        try:
            return self.caught_up()
        except Exception:  # noqa: BLE001 - the next poll or batch reports the outage
            log.debug("could not tell whether the log is caught up", exc_info=True)
            return False

    def run_until_caught_up(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        try:
            while not self.caught_up():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"consumer not caught up after {timeout}s")
                self.step(pipelined=True)
        finally:
            self._settle_quietly()

    def run_forever(self, stop: threading.Event) -> None:
        # database or broker down: wait, then read again from where the failed batch began; never skip
        try:
            retry_forever(stop, lambda: self.step(pipelined=True), self._failed)
        finally:
            self._settle_quietly()

    def _settle_quietly(self) -> None:
        """Settle on the way out of a loop; an error is the loop's to report (it is counted and logged)."""
        try:
            self.settle()
        except Exception as exc:  # noqa: BLE001 - the batch is read again by whoever consumes next
            self._failed(exc, 0.0)
        self._publish_deferred()

    def _failed(self, exc: Exception, wait: float) -> None:
        self.stats.errors += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("consumer batch failed, retrying in %.1fs: %s", wait, self.stats.last_error)

    def close(self) -> None:
        self._settle_quietly()
        if self._applier is not None:
            self._applier.shutdown(wait=True)
            self._applier = None
            sys.setswitchinterval(self._switch_interval)
        self.source.close()
