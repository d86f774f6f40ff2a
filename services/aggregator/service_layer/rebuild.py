"""Rebuild: wipe the aggregator's state and replay the whole log from its first event."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import delete

from services.aggregator.adapters import tables
from services.aggregator.bootstrap import Aggregator
from services.aggregator.service_layer.runner import ConsumerStats

WIPED = (
    tables.daily,
    tables.daily_members,
    tables.hazards,
    tables.hazard_rectifications,
    tables.facts,
    tables.versions,
    tables.processed_events,
    tables.positions,
    tables.dead_letters,
    tables.rollup_changes,
)


def wipe(agg: Aggregator) -> None:
    with agg.engine.begin() as conn:
        for table in WIPED:
            conn.execute(delete(table))


def rebuild(agg: Aggregator, progress: Callable[[int, float], None] | None = None) -> ConsumerStats:
    """Wipe, then consume until the log is exhausted. Positions were wiped too, so the source starts at the
    beginning (Kafka: every partition from offset 0, whatever the group committed)."""
    wipe(agg)
    consumer = agg.consumer()
    started = time.monotonic()
    try:
        last = 0.0
        while not consumer.caught_up():
            consumer.step(timeout=1.0, pipelined=True)  # the next batch is read while one is written
            now = time.monotonic()
            if progress and now - last > 0.5:
                progress(consumer.stats.applied, consumer.stats.applied / max(now - started, 1e-6))
                last = now
        consumer.settle()
        if progress:
            progress(consumer.stats.applied, consumer.stats.applied / max(time.monotonic() - started, 1e-6))
    finally:
        consumer.close()
    return consumer.stats
