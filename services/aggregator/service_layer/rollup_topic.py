"""Publish changed district x period rollups to the compacted rollup topic.

Key ``<district>:<period kind>:<period key>`` (e.g. ``330700:quarter:2026-Q4``); value: the whole report of
that district and period as JSON, so the latest record per key is the current figure and a compacted topic
is a complete table for downstream systems.  Which rollups changed is recorded in ``rollup_changes`` in the
same transaction as the change; a row is cleared only after the broker acknowledged the snapshot and only if
no newer change came meanwhile (its version is unchanged), so a crash delays a snapshot, never loses it.
Snapshots are computed as of the publishing day: "overdue" ages with the calendar, not only with events.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Any, Protocol

from sqlalchemy import Engine, and_, delete, select

from services.aggregator.adapters.store import as_date
from services.aggregator.adapters.tables import rollup_changes
from services.aggregator.domain.periods import period_of
from services.aggregator.views import district_report
from services.common import clock
from services.eventlog.envelope import TYPE_PREFIX, Event

log = logging.getLogger(__name__)

ROLLUP_UPDATED = TYPE_PREFIX + "rollup.updated.v1"


class Sender(Protocol):
    def publish(self, events: list[Event], topic: str | None = None) -> None: ...


def publish_pending(
    engine: Engine, sender: Sender, topic: str, limit: int = 200, today: date | None = None
) -> int:
    """Publish up to ``limit`` changed rollups; returns how many."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(rollup_changes)
            .order_by(rollup_changes.c.period_start, rollup_changes.c.district, rollup_changes.c.period_kind)
            .limit(limit)
        ).all()
    if not rows:
        return 0
    as_of = today or clock.today()  # the day in China, not the host's
    events = []
    for r in rows:
        period = period_of(r.period_kind, as_date(r.period_start))
        report: dict[str, Any] = district_report(engine, r.district, period, as_of=as_of)
        key = f"{r.district}:{r.period_kind}:{r.period_key}"
        events.append(
            Event.new(
                type=ROLLUP_UPDATED,
                source="/score/aggregator",
                subject=key,
                key=key,
                data=report,
                id=f"{key}:v{r.version}:{as_of.isoformat()}",
            )
        )
    sender.publish(events, topic)
    with engine.begin() as conn:
        # in the order the apply step marks them (``Store.mark_rollups_changed``: district, kind, key): a batch
        # marking some of these rows while they are cleared then waits for this transaction, never deadlocks
        for r in sorted(rows, key=lambda r: (r.district, r.period_kind, r.period_key)):
            conn.execute(
                delete(rollup_changes).where(
                    and_(
                        rollup_changes.c.district == r.district,
                        rollup_changes.c.period_kind == r.period_kind,
                        rollup_changes.c.period_key == r.period_key,
                        rollup_changes.c.version == r.version,
                    )
                )
            )
    log.debug("published %d rollup snapshots: %s", len(events), json.dumps([e.key for e in events][:5]))
    return len(events)
