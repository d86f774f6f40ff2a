"""Verify: recompute every rollup from the stored facts, with the same KPI definitions, and compare; and hold
every record of the event log against what the consumer did with it (``reconcile``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Engine, select

from services.aggregator.adapters.store import all_facts, as_date
from services.aggregator.adapters.tables import (
    daily,
    daily_members,
    dead_letters,
    hazard_rectifications,
    hazards,
    processed_events,
)
from services.aggregator.domain.kpis import Cell, MemberCell, contributions, hazard_id, members, rectification
from services.aggregator.views import pruned_positions, stored_positions
from services.eventlog.source import NOTHING, LogRecord


@dataclass
class Difference:
    table: str
    key: tuple[Any, ...]
    stored: Any
    recomputed: Any


@dataclass
class VerifyReport:
    facts: int = 0
    cells: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def verify(engine: Engine) -> VerifyReport:
    report = VerifyReport()
    cells: Counter[Cell] = Counter()
    mems: Counter[MemberCell] = Counter()
    expected_hazards: dict[str, bool] = {}
    expected_rectifications: dict[str, tuple[str, date, bool]] = {}
    with engine.connect() as conn:
        for fact in all_facts(conn):
            report.facts += 1
            cells.update(contributions(fact))
            mems.update(members(fact))
            for h in fact.hazards:
                expected_hazards[hazard_id(fact.lineage_id, h.item_code)] = fact.counts
            mark = rectification(fact)
            if mark is not None:
                expected_rectifications[fact.lineage_id] = mark
        stored_cells = {
            (r.district, as_date(r.day), r.industry, r.metric): int(r.value)
            for r in conn.execute(select(daily))
            if r.value
        }
        stored_members = {
            (r.district, as_date(r.day), r.industry, r.metric, r.member): int(r._mapping["count"])
            for r in conn.execute(select(daily_members))
            if r._mapping["count"]  # Row.count is the tuple method, hence the mapping
        }
        stored_hazards = {
            r.hazard_id: (
                bool(r.counts),
                as_date(r.rectified_on) if r.rectified_on else None,
                bool(r.rectified_on_time),
            )
            for r in conn.execute(select(hazards))
        }
        stored_rectifications = {
            r.rectification_lineage: (r.hazard_id, as_date(r.rectified_on), bool(r.on_time))
            for r in conn.execute(select(hazard_rectifications))
        }
    # a hazard's rectification state: its first counting rectification's day, and whether any was on time
    state: dict[str, tuple[date | None, bool]] = {}
    for hazard, on, on_time in expected_rectifications.values():
        first, any_on_time = state.get(hazard, (None, False))
        state[hazard] = (on if first is None else min(first, on), any_on_time or on_time)
    expected_hazards_state = {
        h: (counts, *state.get(h, (None, False))) for h, counts in expected_hazards.items()
    }
    recomputed_cells = {k: v for k, v in cells.items() if v}
    recomputed_members = {k: v for k, v in mems.items() if v}
    report.cells = len(recomputed_cells)
    comparisons: list[tuple[str, dict[Any, Any], dict[Any, Any]]] = [
        ("daily", stored_cells, recomputed_cells),
        ("daily_members", stored_members, recomputed_members),
        ("hazards", stored_hazards, expected_hazards_state),
        ("hazard_rectifications", stored_rectifications, expected_rectifications),
    ]
    for name, stored, recomputed in comparisons:
        for key in sorted(set(stored) | set(recomputed), key=str):
            if stored.get(key) != recomputed.get(key):
                k = key if isinstance(key, tuple) else (key,)
                report.differences.append(Difference(name, k, stored.get(key), recomputed.get(key)))
    return report


# -- the log: every record at or before a stored position is accounted for ----------------------------------


@dataclass
class PartitionAccount:
    """What became of one partition's records: each at or before the stored position is applied, a duplicate
    of an event applied elsewhere, or a dead letter; anything else is missing (a gap)."""

    partition: int
    position: int = NOTHING
    records: int = 0
    applied: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    missing: int = 0
    pending: int = 0  # after the stored position: not read yet (lag), not a gap
    #: the position row's own counters (applied + duplicates + dead letters), the /metrics reconciliation
    counted: int = 0
    first_missing: list[int] = field(default_factory=list)
    #: claims made by this partition's records and since pruned (``prune.py``)
    pruned_claims: int = 0
    #: records with no claim left since a prune (``prune.py``), included in ``applied`` and ``duplicates``
    pruned: int = 0

    @property
    def accounted(self) -> int:
        return self.applied + self.duplicates + self.dead_letters

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.counted == self.accounted


@dataclass
class LogReport:
    partitions: dict[int, PartitionAccount] = field(default_factory=dict)

    @property
    def gaps(self) -> int:
        return sum(p.missing for p in self.partitions.values())

    @property
    def pending(self) -> int:
        return sum(p.pending for p in self.partitions.values())

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.partitions.values())


def reconcile(engine: Engine, source: str, records: Iterable[LogRecord], chunk: int = 2000) -> LogReport:
    """Hold every record of the log (as the log itself gives them) against the consumer's claims, dead letters
    and positions.  This is what a recomputation from the stored facts cannot see: an event never applied."""
    report = LogReport()
    with engine.connect() as conn:
        stored = stored_positions(conn, source)
        pruned = pruned_positions(conn, source)
        pruned_any = any(claims for _through, claims in pruned.values())
        dead = {
            (int(r.partition), int(r.offset))
            for r in conn.execute(
                select(dead_letters.c.partition, dead_letters.c.offset).where(dead_letters.c.source == source)
            )
        }

        def account(p: int) -> PartitionAccount:
            if p not in report.partitions:
                position, counted = stored.get(p, (NOTHING, 0))
                _through, claims = pruned.get(p, (NOTHING, 0))
                report.partitions[p] = PartitionAccount(
                    p, position=position, counted=counted, pruned_claims=claims
                )
            return report.partitions[p]

        for p in stored:
            account(p)
        for part in _chunks(records, chunk):
            ids = [r.event_id for r in part if r.event_id is not None]
            claims = {
                row.event_id: (row.partition, row.offset)
                for row in conn.execute(
                    select(processed_events).where(processed_events.c.event_id.in_(set(ids)))
                )
            }
            for r in part:
                a = account(r.partition)
                a.records += 1
                where = (r.partition, r.offset)
                if r.offset > a.position:
                    a.pending += 1
                elif where in dead:
                    a.dead_letters += 1
                elif r.event_id in claims:
                    claimed_at = claims[r.event_id]
                    # rows claimed before claims recorded where (None) count where they are met
                    if claimed_at == where or claimed_at[0] is None:
                        a.applied += 1
                    else:
                        a.duplicates += 1
                elif pruned_any:  # its claim may have been pruned: settled by the counts below
                    a.pruned += 1
                else:
                    a.missing += 1
                    if len(a.first_missing) < 10:
                        a.first_missing.append(r.offset)
    for a in report.partitions.values():
        # Each pruned claim was made by the record at its own place: that many of the records left without a
        # claim were applied, the others were duplicates of pruned claims (also above the watermark: a re-send
        # of an event claimed long before).  Which is which is no longer
        # written anywhere, so after a prune a gap shows as position counters that disagree (one record more
        # accounted than the consumer handled), not by its offset.
        a.applied += min(a.pruned, a.pruned_claims)
        a.duplicates += max(0, a.pruned - a.pruned_claims)
    return report


def _chunks(records: Iterable[LogRecord], size: int) -> Iterator[list[LogRecord]]:
    part: list[LogRecord] = []
    for r in records:
        part.append(r)
        if len(part) >= size:
            yield part
            part = []
    if part:
        yield part
