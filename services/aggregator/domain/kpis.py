"""Every rollup figure, defined once.

``contributions(fact)`` says what one fact adds to the daily base cells (county-or-prefecture district x
local day x industry x metric); the incremental consumer applies ``new - old`` when a fact changes, and the
verifier sums ``contributions`` over all stored facts: both use this one function, so they cannot drift.
Every base value is an integer, so sums are exact; means and rates are derived at read time by ``derive``.

Hierarchy and periods are resolved at read time by summing base cells (Yongkang 330784 is inside Jinhua
330700, which is inside Zhejiang 330000; a week/month/quarter/year is a range of days).
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from services.aggregator.domain.facts import Fact
from services.common.codes import SCORE_MODULES

#: worker-survey cells built from fewer respondents than this are suppressed in every output
K_ANONYMITY = 5

Cell = tuple[str, date, str, str]  # district, day, industry, metric
MemberCell = tuple[str, date, str, str, str]  # district, day, industry, metric, member

SURVEY_FLAGS = (
    "trained_on_hazards",
    "ppe_provided",
    "wages_on_time",
    "social_insurance",
    "injury_12m",
    "near_miss_12m",
)

#: (payload flag, its metric): the metric names built once, not per survey
_SURVEY_FLAG_METRICS = tuple((flag, f"survey_{flag}") for flag in SURVEY_FLAGS)


def contributions(fact: Fact) -> Counter[Cell]:
    """What ``fact`` adds to the base cells; empty when it does not count (rejected)."""
    district, day, industry = fact.district, fact.day, fact.industry
    return Counter({(district, day, industry, metric): value for metric, value in metrics(fact).items()})


def metrics(fact: Fact) -> dict[str, int]:
    """``contributions`` of ``fact`` as metric -> value: every cell a fact adds to is in its own district x day
    x industry, so the consumer sums a batch's new facts per (district, day, industry) from these and builds
    the cell keys once per batch (a key tuple per metric and event, and a Counter per event, were a quarter of
    its apply step's Python).  No zero values; empty when the fact does not count."""
    # metric -> value, keyed by cell once at the end: the consumer calls this for every event
    m: dict[str, int] = {}
    if not fact.counts:
        return m
    p = fact.payload
    if fact.form == "factory_inspection":
        computed = p.get("computed") or {}
        m["inspections"] = 1
        m["items_checked"] = int(computed.get("items_checked", 0))
        m["items_failed"] = int(computed.get("items_failed", 0))
        score = computed.get("score")
        if score is not None:
            m["scored_inspections"] = 1
            m["score_tenths"] = round(float(score) * 10)  # scores carry one decimal: tenths are exact
        for module in p["data"].get("score_modules", []):
            if type(module) is not str:  # a metric's name: str() of a list or a dict is no name (event fuzz)
                raise TypeError("score_modules must be strings")
            key = f"module_{module}"
            m[key] = m.get(key, 0) + 1
        for hazard in fact.hazards:
            for key in (
                "hazards_found",
                f"hazards_found_{hazard.severity}",
                f"hazards_found_category_{hazard.category}",
            ):
                m[key] = m.get(key, 0) + 1
    elif fact.form == "worker_survey":
        d = p["data"]
        climate, cooperation = d["safety_climate"], d["workplace_cooperation"]
        m["survey_responses"] = 1
        m["safety_climate_sum"] = sum(map(int, climate.values()))
        m["safety_climate_items"] = len(climate)
        m["cooperation_sum"] = sum(map(int, cooperation.values()))
        m["cooperation_items"] = len(cooperation)
        for flag, metric in _SURVEY_FLAG_METRICS:
            if d.get(flag) is True:
                m[metric] = 1
    if 0 in m.values():
        m = {metric: value for metric, value in m.items() if value}
    return m


def members(fact: Fact) -> Counter[MemberCell]:
    """Distinct-count memberships, counted so that a retraction removes exactly one.

    Enterprises inspected: an enterprise inspected twice is one enterprise.  (Rectified hazards are counted
    from the hazard ledger: see ``rectification``.)
    """
    return Counter(memberships(fact))


def memberships(fact: Fact) -> list[MemberCell]:
    """The member cells ``fact`` counts in, each once (``members`` as a list: the consumer adds a batch's new
    facts to one counter without a Counter per fact)."""
    if fact.counts and fact.form == "factory_inspection" and fact.enterprise:
        return [(fact.district, fact.day, fact.industry, "enterprises_inspected", fact.enterprise)]
    return []


def hazard_id(inspection_lineage: str, item_code: str) -> str:
    """A hazard's identity across corrections: its inspection's first version and the item."""
    return f"{inspection_lineage}:{item_code}"


def rectification(fact: Fact) -> tuple[str, date, bool] | None:
    """(hazard id, rectified on, on time) of a counting rectification fact; None for anything else.

    A hazard counts as rectified when its inspection counts and at least one of these names it, so repeated
    or re-approved rectifications count it once, and a rejected inspection takes its hazards out of
    "rectified" as it takes them out of "found".
    """
    if not fact.counts or fact.form != "hazard_rectification":
        return None
    hazard = fact.payload["computed"]["hazard"]
    if type(hazard["inspection_root"]) is not str or type(hazard["item_code"]) is not str:
        # the parts of a hazard's id: str() of a list or a dict is no id (the event fuzz test found one)
        raise TypeError("a rectified hazard's inspection_root and item_code must be strings")
    on = date.fromisoformat(fact.payload["data"]["rectified_on"])
    return (
        hazard_id(hazard["inspection_root"], hazard["item_code"]),
        on,
        on <= date.fromisoformat(hazard["deadline"]),
    )


#: the base metrics a worker survey contributes (every other metric is inspection data)
SURVEY_METRICS = (
    "survey_responses",
    "safety_climate_sum",
    "safety_climate_items",
    "cooperation_sum",
    "cooperation_items",
    *(f"survey_{flag}" for flag in SURVEY_FLAGS),
)

#: survey figures are published from whole calendar months only (see ``published_survey_sums``)
SURVEY_PERIODS = ("month", "quarter", "year")

SurveyCell = tuple[str, str]  # district as stored, calendar month "YYYY-MM"


def published_survey_sums(cells: dict[SurveyCell, dict[str, int]]) -> dict[str, int] | None:
    """The survey sums a report may publish, given the survey base cells it covers; None: nothing to publish.

    The rule (statistical disclosure control by safe base cells): the survey base cell is one district (as
    the survey named it) in one calendar month.  A base cell with K_ANONYMITY respondents or more is
    *visible*; one with fewer, zero included, is *hidden*.  Every published survey figure, whatever the
    division, period (month, quarter, year: unions of whole months) or breakdown, is derived from visible
    cells only; hidden cells enter no published number at all.

    Why it holds: whether a cell is visible depends on that cell alone, and a hidden cell's content changes
    no published figure.  So for any hidden cell, data sets in which it holds 0, 1, 2, 3 or 4 respondents
    publish exactly the same figures: no sum or difference of published figures (across the hierarchy,
    periods, industries or outputs) can recover it or narrow it to 1-4.  The price: a total leaves out its
    hidden cells (it is the total of the visible ones, and says so), and survey figures are not published
    for days or weeks.
    """
    out: dict[str, int] = {}
    for metrics in cells.values():
        if metrics.get("survey_responses", 0) >= K_ANONYMITY:
            for metric, value in metrics.items():
                out[metric] = out.get(metric, 0) + value
    return out or None


def delta(old: Counter[Any], new: Counter[Any]) -> dict[Any, int]:
    """``new - old`` with negative values kept (Counter subtraction would drop them)."""
    keys = set(old) | set(new)
    return {k: new.get(k, 0) - old.get(k, 0) for k in keys if new.get(k, 0) != old.get(k, 0)}


def _ratio(num: int, den: int, scale: float = 1.0, digits: int = 4) -> float | None:
    return None if den == 0 else round(num * scale / den, digits)


def derive(
    sums: dict[str, int],
    distinct: dict[str, int],
    ledger: dict[str, int],
    survey: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Report figures from summed base metrics, distinct counts and the hazard ledger's counts (rectified,
    rectified_on_time, overdue); survey figures from ``survey``, the sums ``published_survey_sums`` allows
    (None: the survey figures are ``"suppressed"``)."""
    g = sums.get
    found, rectified = g("hazards_found", 0), ledger.get("rectified", 0)
    report: dict[str, Any] = {
        "inspections": g("inspections", 0),
        "enterprises_inspected": distinct.get("enterprises_inspected", 0),
        "items_checked": g("items_checked", 0),
        "items_failed": g("items_failed", 0),
        "compliance_rate": _ratio(g("items_checked", 0) - g("items_failed", 0), g("items_checked", 0)),
        "mean_inspection_score": _ratio(g("score_tenths", 0), g("scored_inspections", 0), 0.1, 2),
        "module_coverage": {m: g(f"module_{m}", 0) for m in SCORE_MODULES},
        "hazards": {
            "found": found,
            "found_general": g("hazards_found_general", 0),
            "found_major": g("hazards_found_major", 0),
            "found_by_category": {
                k.removeprefix("hazards_found_category_"): v
                for k, v in sorted(sums.items())
                if k.startswith("hazards_found_category_") and v
            },
            "rectified": rectified,
            "rectified_on_time": ledger.get("rectified_on_time", 0),
            "rectification_rate": _ratio(rectified, found),
            "open": found - rectified,
            "overdue": ledger.get("overdue", 0),
        },
    }
    if survey is None:
        report["worker_survey"] = {"responses": "suppressed", "suppressed": True}
    else:
        v = survey.get
        n = v("survey_responses", 0)
        report["worker_survey"] = {
            "responses": n,
            "suppressed": False,
            "safety_climate_index": _ratio(v("safety_climate_sum", 0), v("safety_climate_items", 0), 1, 3),
            "cooperation_index": _ratio(v("cooperation_sum", 0), v("cooperation_items", 0), 1, 3),
            "share_trained": _ratio(v("survey_trained_on_hazards", 0), n),
            "share_ppe_provided": _ratio(v("survey_ppe_provided", 0), n),
            "share_wages_on_time": _ratio(v("survey_wages_on_time", 0), n),
            "share_insured": _ratio(v("survey_social_insurance", 0), n),
            "injuries_per_100": _ratio(v("survey_injury_12m", 0), n, 100, 2),
            "near_misses_per_100": _ratio(v("survey_near_miss_12m", 0), n, 100, 2),
        }
    return report


#: How long an overdue hazard has been past its deadline, in whole days as of the report day: (name, first
#: day, last day or None for "and more").  The hazard picture of the dashboard groups overdue hazards by
#: these; the bands follow the notices bureaus send (a week, a month, a quarter, longer).
OVERDUE_AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("1-7", 1, 7),
    ("8-30", 8, 30),
    ("31-90", 31, 90),
    ("91+", 91, None),
)


def overdue_age_bucket(deadline: date, as_of: date) -> str | None:
    """The age band of a hazard open on ``as_of`` with this deadline; None when it is not yet overdue
    (overdue means past the deadline: a hazard due today is not overdue, as in the report's ``overdue``)."""
    days = (as_of - deadline).days
    for name, first, last in OVERDUE_AGE_BUCKETS:
        if days >= first and (last is None or days <= last):
            return name
    return None
