"""Verify: recompute every rollup from the stored facts, with the same KPI definitions, and compare."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Engine, select

from services.aggregator.adapters.store import all_facts
from services.aggregator.adapters.tables import daily, daily_members, hazard_rectifications, hazards
from services.aggregator.domain.kpis import Cell, MemberCell, contributions, hazard_id, members, rectification


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


def _day(v: Any) -> date:
    return v if isinstance(v, date) else date.fromisoformat(str(v))


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
            if fact.form == "factory_inspection":
                for h in (fact.payload.get("computed") or {}).get("hazards", []):
                    expected_hazards[hazard_id(fact.lineage_id, h["item_code"])] = fact.counts
            mark = rectification(fact)
            if mark is not None:
                expected_rectifications[fact.lineage_id] = mark
        stored_cells = {
            (r.district, _day(r.day), r.industry, r.metric): int(r.value)
            for r in conn.execute(select(daily))
            if r.value
        }
        stored_members = {
            (r.district, _day(r.day), r.industry, r.metric, r.member): int(r._mapping["count"])
            for r in conn.execute(select(daily_members))
            if r._mapping["count"]  # Row.count is the tuple method, hence the mapping
        }
        stored_hazards = {r.hazard_id: bool(r.counts) for r in conn.execute(select(hazards))}
        stored_rectifications = {
            r.rectification_lineage: (r.hazard_id, _day(r.rectified_on), bool(r.on_time))
            for r in conn.execute(select(hazard_rectifications))
        }
    recomputed_cells = {k: v for k, v in cells.items() if v}
    recomputed_members = {k: v for k, v in mems.items() if v}
    report.cells = len(recomputed_cells)
    comparisons: list[tuple[str, dict[Any, Any], dict[Any, Any]]] = [
        ("daily", stored_cells, recomputed_cells),
        ("daily_members", stored_members, recomputed_members),
        ("hazards", stored_hazards, expected_hazards),
        ("hazard_rectifications", stored_rectifications, expected_rectifications),
    ]
    for name, stored, recomputed in comparisons:
        for key in sorted(set(stored) | set(recomputed), key=str):
            if stored.get(key) != recomputed.get(key):
                k = key if isinstance(key, tuple) else (key,)
                report.differences.append(Difference(name, k, stored.get(key), recomputed.get(key)))
    return report
