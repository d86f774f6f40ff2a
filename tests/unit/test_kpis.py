"""The KPI definitions and periods as plain functions: no database, milliseconds."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.aggregator.domain.facts import Fact, HazardFound
from services.aggregator.domain.kpis import (
    contributions,
    delta,
    derive,
    members,
    published_survey_sums,
    rectification,
)
from services.aggregator.domain.periods import UnknownPeriod, period_of

DAY = date(2026, 11, 20)


def _inspection(status: str = "pending", hazards: list[dict[str, Any]] | None = None) -> Fact:
    payload = {
        "data": {"score_modules": ["M1", "M5"]},
        "computed": {"score": 83.3, "items_checked": 6, "items_failed": 1, "hazards": hazards or []},
    }
    return Fact("L1", "S2", "factory_inspection", "330784", "E1", "C33", DAY, status, payload)


def test_an_inspection_contributes_its_items_score_modules_and_hazards() -> None:
    fire = {"item_code": "FIRE-01", "severity": "major", "category": "fire", "deadline": "2026-12-01"}
    got = {m: v for (_d, _day, _i, m), v in contributions(_inspection(hazards=[fire])).items()}
    assert got == {
        "inspections": 1,
        "items_checked": 6,
        "items_failed": 1,
        "scored_inspections": 1,
        "score_tenths": 833,
        "module_M1": 1,
        "module_M5": 1,
        "hazards_found": 1,
        "hazards_found_major": 1,
        "hazards_found_category_fire": 1,
    }
    assert list(members(_inspection())) == [("330784", DAY, "C33", "enterprises_inspected", "E1")]


def test_a_rejected_fact_contributes_nothing_and_a_retraction_is_exact() -> None:
    counted, rejected = _inspection(), _inspection("rejected")
    assert not contributions(rejected) and not members(rejected)
    change = delta(contributions(counted), contributions(rejected))
    assert change and all(v < 0 for v in change.values())
    assert {k: -v for k, v in change.items()} == dict(contributions(counted))


def test_hazards_are_read_once_into_typed_values_and_a_bad_one_is_refused() -> None:
    h = {"item_code": "ELEC-02", "severity": "general", "category": "electrical", "deadline": "2026-12-05"}
    assert _inspection(hazards=[h]).hazards == [
        HazardFound("ELEC-02", "general", "electrical", date(2026, 12, 5))
    ]
    with pytest.raises(TypeError):
        _ = _inspection(hazards=[{**h, "severity": 3}]).hazards
    with pytest.raises(ValueError):
        _ = _inspection(hazards=[{**h, "deadline": "soon"}]).hazards


def test_a_rectification_counts_on_time_by_its_hazards_deadline() -> None:
    payload = {
        "data": {"rectified_on": "2026-12-01"},
        "computed": {"hazard": {"inspection_root": "L1", "item_code": "FIRE-01", "deadline": "2026-12-01"}},
    }
    fact = Fact("R1", "R1", "hazard_rectification", "330784", "E1", "C33", DAY, "pending", payload)
    assert rectification(fact) == ("L1:FIRE-01", date(2026, 12, 1), True)
    assert rectification(fact.reviewed("rejected")) is None


def test_rates_and_suppression_are_derived_at_read_time() -> None:
    sums = {"hazards_found": 4, "items_checked": 10, "items_failed": 2}
    figures = derive(sums, {}, {"rectified": 1, "overdue": 2})
    assert figures["hazards"]["rectification_rate"] == 0.25 and figures["hazards"]["open"] == 3
    assert figures["compliance_rate"] == 0.8
    assert figures["worker_survey"] == {"responses": "suppressed", "suppressed": True}
    shown = derive({}, {}, {}, {"survey_responses": 5, "survey_injury_12m": 1})["worker_survey"]
    assert (shown["responses"], shown["injuries_per_100"]) == (5, 20.0)


def test_survey_figures_come_from_visible_base_cells_only() -> None:
    cells = {
        ("330784", "2026-11"): {"survey_responses": 5, "safety_climate_sum": 60},
        ("330106", "2026-11"): {"survey_responses": 4, "safety_climate_sum": 80},  # hidden: enters nothing
        ("330106", "2026-10"): {"survey_responses": 7, "safety_climate_sum": 70},
    }
    assert published_survey_sums(cells) == {"survey_responses": 12, "safety_climate_sum": 130}
    for n in range(5):  # whatever the hidden cell holds, the same figures
        cells[("330106", "2026-11")] = {"survey_responses": n, "safety_climate_sum": 20 * n}
        assert published_survey_sums(cells) == {"survey_responses": 12, "safety_climate_sum": 130}
    assert published_survey_sums({("330784", "2026-11"): {"survey_responses": 4}}) is None
    assert published_survey_sums({}) is None


@pytest.mark.parametrize(
    ("kind", "day", "key", "start", "end"),
    [
        ("week", date(2026, 1, 1), "2026-W01", date(2025, 12, 29), date(2026, 1, 4)),
        ("month", date(2028, 2, 10), "2028-02", date(2028, 2, 1), date(2028, 2, 29)),
        ("quarter", date(2026, 11, 20), "2026-Q4", date(2026, 10, 1), date(2026, 12, 31)),
        ("year", date(2026, 6, 1), "2026", date(2026, 1, 1), date(2026, 12, 31)),
    ],
)
def test_periods_cover_the_days_they_name(kind: str, day: date, key: str, start: date, end: date) -> None:
    p = period_of(kind, day)
    assert (p.key, p.start, p.end) == (key, start, end)
    assert period_of(kind, p.start) == p == period_of(kind, p.end)
    assert p.previous().end.toordinal() == p.start.toordinal() - 1
    with pytest.raises(UnknownPeriod):
        period_of("fortnight", day)
