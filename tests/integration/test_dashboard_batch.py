"""The dashboard's batched read model gives, figure for figure, what each district report gives alone.

``views.dashboard`` and ``views.district_reports`` read the cells of many reports in a few grouped queries
(by district, day segment and industry as the batch needs) and sum each report from its groups.  Here the
oracle is the plain per-report reading the view used before (each report's base sums, distinct members,
hazard ledger and survey cells read with their own queries, one report at a time), derived by the domain's
one ``derive``: on SQLite and on PostgreSQL, over data applied by the real apply step (inspections in three
industries with hazards rectified on time, late and not at all, overdue or not yet due; worker surveys in
visible and hidden cells), for every division of the pilot, every period kind, periods crossing months,
quarters and years, with and without an industry.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import ColumnElement, Connection, Engine, and_, func, select

from bench.aggregator_bench import make_events
from bench.seed_reports import apply_events
from services.aggregator import views
from services.aggregator.adapters.tables import daily, daily_members, hazards
from services.aggregator.domain.kpis import (
    OVERDUE_AGE_BUCKETS,
    SURVEY_METRICS,
    SURVEY_PERIODS,
    SurveyCell,
    derive,
    overdue_age_bucket,
    published_survey_sums,
)
from services.aggregator.domain.periods import PERIODS, Period
from services.common.codes import children, covered, industries
from services.common.db import make_engine
from services.common.migrate import upgrade
from services.eventlog.envelope import Event
from tests.conftest import unique
from tests.servers import PostgresServer

#: the pilot's divisions: the province, both prefectures, counties with and without data
CODES = ["330000", "330100", "330700", "330784", "330106", "330782", "330727"]
INDUSTRIES = [None, "C33", "C34", "C35", "C36"]  # C36: no data at all
AS_OF = date(2026, 11, 27)


def _three_industries(events: list[Event]) -> list[Event]:
    """The bench's events (C33 and C34) with every third enterprise in C35, its rectifications too (they
    share the enterprise's key), so the industries breakdown has three divisions."""
    out = []
    for e in events:
        if sum(e.key.encode()) % 3 == 0:
            e = replace(e, data_json=e.data_json.replace('"C34"', '"C35"'))
        out.append(e)
    return out


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """An aggregator database holding 3,000 applied events (a year of 2026), on SQLite or PostgreSQL."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("batch") / "aggregator.db"
        eng = make_engine(f"sqlite:///{path}")
    else:
        pg: PostgresServer = request.getfixturevalue("postgres_server")
        eng = make_engine(pg.fresh_database(unique("batch")))
    upgrade("aggregator", eng)
    apply_events(eng, _three_industries(make_events(3000)))
    yield eng
    eng.dispose()


# -- the oracle: one report at a time, each figure read with its own queries ---------------------------------


def _month(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        return func.to_char(daily.c.day, "YYYY-MM")
    return func.strftime("%Y-%m", daily.c.day)


def _hazard_scope(code: str, period: Period, industry: str | None) -> ColumnElement[bool]:
    h = hazards.c
    scope = and_(
        h.district.in_(covered(code)), h.found_on.between(period.start, period.end), h.counts.is_(True)
    )
    return and_(scope, h.industry == industry) if industry else scope


def _overdue(as_of: date) -> ColumnElement[bool]:
    h = hazards.c
    return and_(h.deadline < as_of, h.rectified_on.is_(None) | (h.rectified_on > as_of))


def one_report(
    engine: Engine, code: str, period: Period, industry: str | None, as_of: date
) -> dict[str, Any]:
    """The district report as read before the batch: four queries for this report alone."""
    area = covered(code)
    d, m, h = daily.c, daily_members.c, hazards.c
    in_cells = and_(d.district.in_(area), d.day.between(period.start, period.end))
    in_members = and_(m.district.in_(area), m.day.between(period.start, period.end), m.count > 0)
    if industry:
        in_cells = and_(in_cells, d.industry == industry)
        in_members = and_(in_members, m.industry == industry)
    with engine.connect() as conn:
        sums = {
            r.metric: int(r.total)
            for r in conn.execute(
                select(d.metric, func.sum(d.value).label("total")).where(in_cells).group_by(d.metric)
            )
        }
        distinct = {
            r.metric: int(r.n)
            for r in conn.execute(
                select(m.metric, func.count(func.distinct(m.member)).label("n"))
                .where(in_members)
                .group_by(m.metric)
            )
        }
        survey = None
        if period.kind in SURVEY_PERIODS:
            month = _month(conn)
            cells: dict[SurveyCell, dict[str, int]] = {}
            for r in conn.execute(
                select(d.district, month.label("month"), d.metric, func.sum(d.value).label("total"))
                .where(in_cells, d.metric.in_(SURVEY_METRICS))
                .group_by(d.district, month, d.metric)
            ):
                cells.setdefault((r.district, r.month), {})[r.metric] = int(r.total)
            survey = published_survey_sums(cells)
        row = conn.execute(
            select(
                func.count(h.rectified_on).label("rectified"),
                func.count().filter(h.rectified_on_time.is_(True)).label("on_time"),
                func.count().filter(_overdue(as_of)).label("overdue"),
            ).where(_hazard_scope(code, period, industry))
        ).one()
    ledger = {"rectified": row.rectified, "rectified_on_time": row.on_time, "overdue": row.overdue}
    return {
        "district": views.division(views.district_info(code)),
        "covers": area,
        "period": period.as_dict(),
        "industry": industry,
        "as_of": as_of.isoformat(),
        "figures": derive(sums, distinct, ledger, survey),
    }


def one_picture(
    engine: Engine, code: str, period: Period, industry: str | None, as_of: date
) -> dict[str, Any]:
    """The hazard picture as read before: open hazards by category and severity, overdue ones by deadline."""
    h = hazards.c
    scope = _hazard_scope(code, period, industry)
    with engine.connect() as conn:
        opened = conn.execute(
            select(h.category, h.severity, func.count().label("n"))
            .where(scope, h.rectified_on.is_(None))
            .group_by(h.category, h.severity)
            .order_by(h.category, h.severity)
        ).all()
        overdue = conn.execute(
            select(h.deadline, func.count().label("n")).where(scope, _overdue(as_of)).group_by(h.deadline)
        ).all()
    ages = dict.fromkeys((name for name, _f, _l in OVERDUE_AGE_BUCKETS), 0)
    for r in overdue:
        deadline = r.deadline if isinstance(r.deadline, date) else date.fromisoformat(r.deadline)
        ages[str(overdue_age_bucket(deadline, as_of))] += int(r.n)
    return {
        "as_of": as_of.isoformat(),
        "open": [{"category": r.category, "severity": r.severity, "count": int(r.n)} for r in opened],
        "overdue_by_age": [
            {"bucket": name, "min_days": first, "max_days": last, "count": ages[name]}
            for name, first, last in OVERDUE_AGE_BUCKETS
        ],
    }


def one_industries(engine: Engine, code: str, period: Period) -> list[str]:
    """The industries with any base cell or counting hazard in the division and period."""
    cells = (
        select(daily.c.industry)
        .where(daily.c.district.in_(covered(code)), daily.c.day.between(period.start, period.end))
        .distinct()
    )
    found = select(hazards.c.industry).where(_hazard_scope(code, period, None)).distinct()
    with engine.connect() as conn:
        present = {r.industry for r in conn.execute(cells)} | {r.industry for r in conn.execute(found)}
    return sorted(present & set(industries()))


def one_by_one_dashboard(
    engine: Engine, code: str, period: Period, industry: str | None, as_of: date, count: int
) -> dict[str, Any]:
    """The dashboard's reports, each read alone (the view before the batch)."""
    trend = [period]
    while len(trend) < count:
        trend.append(trend[-1].previous())
    return {
        "summary": one_report(engine, code, period, industry, as_of),
        "comparison": [
            one_report(engine, c, period, industry, as_of) for c in views.comparison_codes(lambda _c: True)
        ],
        "children": [one_report(engine, c, period, industry, as_of) for c in children(code)],
        "industries": [
            one_report(engine, code, period, i, as_of) for i in one_industries(engine, code, period)
        ],
        "trend": [one_report(engine, code, p, industry, as_of) for p in reversed(trend)],
        "hazards": one_picture(engine, code, period, industry, as_of),
    }


def _batched(engine: Engine, code: str, period: Period, industry: str | None, as_of: date, count: int) -> Any:
    view = views.dashboard(engine, "seed", code, period, industry, as_of, count, lambda _c: True)
    return {k: view[k] for k in ("summary", "comparison", "children", "industries", "trend", "hazards")}


# -- the data holds what the comparison must cover ------------------------------------------------------------


def test_the_seeded_data_has_every_case_the_figures_distinguish(engine: Engine) -> None:
    year = views.period_of("year", date(2026, 6, 1))
    province = one_report(engine, "330000", year, None, AS_OF)["figures"]
    hz = province["hazards"]
    assert hz["rectified_on_time"] > 0 and hz["rectified"] > hz["rectified_on_time"]  # on time and late
    assert hz["overdue"] > 0
    # open on a day mid-year: overdue ones and ones not yet due
    midyear = one_report(engine, "330000", year, None, date(2026, 6, 15))["figures"]["hazards"]
    assert 0 < midyear["overdue"] < midyear["open"]
    assert one_industries(engine, "330000", year) == ["C33", "C34", "C35"]
    months = [views.period_of("month", date(2026, m, 1)) for m in range(1, 12)]
    shown = [one_report(engine, c, p, None, AS_OF)["figures"]["worker_survey"] for c in CODES for p in months]
    assert any(s["suppressed"] for s in shown) and any(not s["suppressed"] for s in shown)


# -- the batched view against the one-by-one reports ---------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind", "anchor", "count"),
    [
        ("330000", "quarter", date(2026, 11, 20), 12),  # the bench's view: twelve quarters, back into 2024
        ("330000", "month", date(2026, 11, 20), 13),  # the page's default, a trend crossing the year
        ("330700", "week", date(2026, 3, 31), 6),  # a week across March/April: across quarters
        ("330000", "day", date(2026, 7, 1), 5),  # days across June/July
        ("330784", "week", date(2026, 1, 2), 3),  # ISO week 2026-W01 starts in 2025
        ("330100", "year", date(2026, 5, 5), 3),
        ("330106", "month", date(2026, 4, 30), 4),
    ],
)
@pytest.mark.parametrize("industry", [None, "C34"])
def test_every_figure_of_the_batched_dashboard_is_the_one_by_one_reports(
    engine: Engine, code: str, kind: str, anchor: date, count: int, industry: str | None
) -> None:
    period = views.period_of(kind, anchor)
    got = _batched(engine, code, period, industry, AS_OF, count)
    want = one_by_one_dashboard(engine, code, period, industry, AS_OF, count)
    assert any(r["figures"]["inspections"] > 0 for r in got["comparison"] + got["trend"])  # not all empty
    for part in want:
        assert got[part] == want[part], part


#: the hypothesis tests' settings: a fixed sequence of examples (the seeded database is shared by them)
_examples = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    derandomize=True,
)


@_examples
@given(
    code=st.sampled_from(CODES),
    kind=st.sampled_from(PERIODS),
    anchor=st.dates(date(2025, 12, 1), date(2026, 12, 31)),
    industry=st.sampled_from(INDUSTRIES),
    count=st.integers(1, 14),
    as_of=st.dates(date(2026, 1, 1), date(2027, 3, 1)),
)
def test_any_dashboard_view_equals_its_reports_read_one_by_one(
    engine: Engine, code: str, kind: str, anchor: date, industry: str | None, count: int, as_of: date
) -> None:
    period = views.period_of(kind, anchor)
    assert _batched(engine, code, period, industry, as_of, count) == one_by_one_dashboard(
        engine, code, period, industry, as_of, count
    )


@_examples
@given(
    requests=st.lists(
        st.tuples(
            st.sampled_from(CODES),
            st.sampled_from(PERIODS),
            st.dates(date(2025, 12, 1), date(2026, 12, 31)),
            st.sampled_from(INDUSTRIES),
        ),
        min_size=1,
        max_size=8,
    ),
    as_of=st.dates(date(2026, 1, 1), date(2027, 3, 1)),
)
def test_a_batch_of_any_reports_equals_each_report_read_alone(
    engine: Engine, requests: list[tuple[str, str, date, str | None]], as_of: date
) -> None:
    """Any mix: overlapping periods (a day, its week, month, quarter, year), divisions inside each other,
    industries or none, in one batch; and the one-request batch that the report API answers from."""
    wanted = [views.ReportRequest(c, views.period_of(k, a), i) for c, k, a, i in requests]
    got = views.district_reports(engine, wanted, as_of)
    want = [one_report(engine, r.code, r.period, r.industry, as_of) for r in wanted]
    assert got == want
    first = wanted[0]
    assert views.district_report(engine, first.code, first.period, first.industry, as_of) == want[0]


def test_the_views_built_on_the_batch_refuse_an_unknown_division(engine: Engine) -> None:
    period = views.period_of("month", AS_OF)
    with pytest.raises(views.ReportError) as err:
        views.side_by_side(engine, ["330000", "999999"], period)
    assert err.value.path == "district"
    assert views.district_reports(engine, [], AS_OF) == []
