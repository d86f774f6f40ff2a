"""The aggregator's read models, in one place: district reports (base cells summed over the division
hierarchy and a period, then the derived KPIs) and the consumer's accounts that /metrics shows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, and_, func, select

from services.aggregator.adapters.tables import (
    daily,
    daily_members,
    hazards,
    positions,
)
from services.aggregator.domain import periods
from services.aggregator.domain.kpis import (
    OVERDUE_AGE_BUCKETS,
    SURVEY_METRICS,
    SURVEY_PERIODS,
    SurveyCell,
    derive,
    overdue_age_bucket,
    published_survey_sums,
)
from services.aggregator.domain.periods import Period
from services.common import clock
from services.common.codes import District, ancestors, children, covered, districts, industries
from services.eventlog.source import NOTHING, LogReader


class ReportError(ValueError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def period_of(kind: str, day: date) -> Period:
    """``domain.periods.period_of`` with an unknown kind reported against the ``period`` parameter."""
    try:
        return periods.period_of(kind, day)
    except periods.UnknownPeriod as exc:
        raise ReportError("period", str(exc)) from None


def district_info(code: str) -> District:
    table = districts()
    if code not in table:
        raise ReportError("district", f"unknown district {code}; expected a GB/T 2260 code of Zhejiang")
    return table[code]


def division(d: District) -> dict[str, str]:
    """A division as the report API and the dashboard name it: code, names in both languages, level."""
    return {"code": d.code, "name_zh": d.name_zh, "name_en": d.name_en, "level": d.level}


def district_report(
    engine: Engine, code: str, period: Period, industry: str | None = None, as_of: date | None = None
) -> dict[str, Any]:
    info = district_info(code)
    area = covered(code)
    as_of = as_of or clock.today()  # the day in China, not the host's
    in_cells = and_(daily.c.district.in_(area), daily.c.day.between(period.start, period.end))
    in_members = and_(
        daily_members.c.district.in_(area),
        daily_members.c.day.between(period.start, period.end),
        daily_members.c.count > 0,
    )
    in_hazards = _hazard_scope(area, period, industry)
    if industry:
        in_cells = and_(in_cells, daily.c.industry == industry)
        in_members = and_(in_members, daily_members.c.industry == industry)
    with engine.connect() as conn:
        sums = {
            r.metric: int(r.total)
            for r in conn.execute(
                select(daily.c.metric, func.sum(daily.c.value).label("total"))
                .where(in_cells)
                .group_by(daily.c.metric)
            )
        }
        distinct = {
            r.metric: int(r.n)
            for r in conn.execute(
                select(daily_members.c.metric, func.count(func.distinct(daily_members.c.member)).label("n"))
                .where(in_members)
                .group_by(daily_members.c.metric)
            )
        }
        survey = (
            published_survey_sums(_survey_cells(conn, in_cells)) if period.kind in SURVEY_PERIODS else None
        )
        ledger = _hazard_ledger(conn, in_hazards, as_of)
    return {
        "district": division(info),
        "covers": area,
        "period": period.as_dict(),
        "industry": industry,
        "as_of": as_of.isoformat(),
        "figures": derive(sums, distinct, ledger, survey),
    }


def _survey_cells(conn: Connection, in_cells: ColumnElement[bool]) -> dict[SurveyCell, dict[str, int]]:
    """The survey base cells (district x calendar month) a report covers, with their metric sums."""
    if conn.dialect.name == "postgresql":
        month = func.to_char(daily.c.day, "YYYY-MM")
    else:
        month = func.strftime("%Y-%m", daily.c.day)
    cells: dict[SurveyCell, dict[str, int]] = {}
    rows = conn.execute(
        select(daily.c.district, month.label("month"), daily.c.metric, func.sum(daily.c.value).label("total"))
        .where(in_cells, daily.c.metric.in_(SURVEY_METRICS))
        .group_by(daily.c.district, month, daily.c.metric)
    )
    for r in rows:
        cells.setdefault((r.district, r.month), {})[r.metric] = int(r.total)
    return cells


def _rectified() -> ColumnElement[bool]:
    """The hazard has a counting rectification: the day of its first one is kept on its row by the apply step
    (in the rectifications' transaction, checked by verify)."""
    return hazards.c.rectified_on.is_not(None)


def _overdue(as_of: date) -> ColumnElement[bool]:
    """Open on the report day and past its deadline.

    The one definition of overdue (README, "How the figures are defined"): counted here, at read time, because
    it ages with the calendar where every other figure changes only with events."""
    return and_(
        hazards.c.deadline < as_of, hazards.c.rectified_on.is_(None) | (hazards.c.rectified_on > as_of)
    )


def _hazard_scope(area: tuple[str, ...], period: Period, industry: str | None) -> ColumnElement[bool]:
    """The counting ledger rows of hazards found in ``area`` during ``period`` (in ``industry``)."""
    scope = and_(
        hazards.c.district.in_(area),
        hazards.c.found_on.between(period.start, period.end),
        hazards.c.counts.is_(True),
    )
    return and_(scope, hazards.c.industry == industry) if industry else scope


def _hazard_ledger(conn: Connection, in_hazards: ColumnElement[bool], as_of: date) -> dict[str, int]:
    """Rectified, rectified on time and overdue among the counting hazards found in the period.

    One pass over the period's hazards, each carrying its rectification state (``rectified_on``, the day of its
    first counting rectification, and ``rectified_on_time``; kept by the apply step, checked by verify), read
    from ``ix_hazards_district_found`` alone on PostgreSQL: looking each hazard up in its rectifications was
    nearly all of a report's time at a million submissions.  Open on ``as_of`` means not rectified by then."""
    h = hazards
    row = conn.execute(
        select(
            func.count(h.c.rectified_on).label("rectified"),
            func.count().filter(h.c.rectified_on_time.is_(True)).label("rectified_on_time"),
            func.count().filter(_overdue(as_of)).label("overdue"),
        ).where(in_hazards, h.c.counts.is_(True))
    ).one()
    return {
        "rectified": int(row.rectified),
        "rectified_on_time": int(row.rectified_on_time),
        "overdue": int(row.overdue),
    }


def side_by_side(
    engine: Engine, codes: list[str], period: Period, industry: str | None = None, as_of: date | None = None
) -> list[dict[str, Any]]:
    return [district_report(engine, c, period, industry, as_of) for c in codes]


def trend(
    engine: Engine,
    code: str,
    period: Period,
    count: int,
    industry: str | None = None,
    as_of: date | None = None,
) -> list[dict[str, Any]]:
    periods = [period]
    while len(periods) < count:
        periods.append(periods[-1].previous())
    return [district_report(engine, code, p, industry, as_of) for p in reversed(periods)]


DEFAULT_DISTRICTS = ["330000", "330100", "330700", "330784"]


# -- the dashboard's read models --------------------------------------------------------------------------

#: the pilot's prefectures: the comparison puts each beside the counties below it (Yongkang is one of Jinhua's)
PILOT_PREFECTURES = ("330100", "330700")


def breadcrumb(code: str) -> list[District]:
    """The divisions from the province down to ``code`` (Zhejiang > Jinhua > Yongkang)."""
    table = districts()
    return [table[c] for c in reversed(ancestors(code))]


def comparison_codes(readable: Callable[[str], bool]) -> list[str]:
    """Hangzhou, its counties, Jinhua, its counties (Yongkang among them), as far as ``readable`` allows."""
    codes: list[str] = []
    for prefecture in PILOT_PREFECTURES:
        codes.extend(c for c in (prefecture, *children(prefecture)) if readable(c))
    return codes


def industries_reported(engine: Engine, code: str, period: Period) -> list[str]:
    """The GB/T 4754 divisions with any base cell or hazard in ``code`` during ``period``, in code order
    (worker surveys name no industry: they count in no division's figures)."""
    area = covered(code)
    cells = (
        select(daily.c.industry)
        .where(daily.c.district.in_(area), daily.c.day.between(period.start, period.end))
        .distinct()
    )
    found = select(hazards.c.industry).where(_hazard_scope(area, period, None)).distinct()
    with engine.connect() as conn:
        present = {r.industry for r in conn.execute(cells)} | {r.industry for r in conn.execute(found)}
    return sorted(present & set(industries()))  # surveys name no industry ("")


def hazard_picture(
    engine: Engine, code: str, period: Period, industry: str | None = None, as_of: date | None = None
) -> dict[str, Any]:
    """The hazards found in the period, as the report counts them, broken down: open ones by category and
    severity (their sum is the report's ``hazards.open``), overdue ones by days past the deadline on
    ``as_of`` (their sum is the report's ``hazards.overdue``), with the same conditions as the report."""
    as_of = as_of or clock.today()
    scope = _hazard_scope(covered(code), period, industry)
    with engine.connect() as conn:
        open_rows = conn.execute(
            select(hazards.c.category, hazards.c.severity, func.count().label("n"))
            .where(scope, ~_rectified())
            .group_by(hazards.c.category, hazards.c.severity)
            .order_by(hazards.c.category, hazards.c.severity)
        ).all()
        overdue_rows = conn.execute(
            select(hazards.c.deadline, func.count().label("n"))
            .where(scope, _overdue(as_of))
            .group_by(hazards.c.deadline)
        ).all()
    ages = dict.fromkeys((name for name, _first, _last in OVERDUE_AGE_BUCKETS), 0)
    for r in overdue_rows:
        bucket = overdue_age_bucket(_as_date(r.deadline), as_of)
        if bucket is not None:  # always: _overdue is "deadline before as_of"
            ages[bucket] += int(r.n)
    return {
        "as_of": as_of.isoformat(),
        "open": [{"category": r.category, "severity": r.severity, "count": int(r.n)} for r in open_rows],
        "overdue_by_age": [
            {"bucket": name, "min_days": first, "max_days": last, "count": ages[name]}
            for name, first, last in OVERDUE_AGE_BUCKETS
        ],
    }


def _as_date(value: Any) -> date:
    """A DATE column's value: a date on PostgreSQL, ISO text on SQLite."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def freshness(engine: Engine, source: str, now: datetime | None = None) -> dict[str, Any]:
    """Where in the log the figures are (per partition) and when that position last moved."""
    now = now or datetime.now(UTC)
    with engine.connect() as conn:
        rows = conn.execute(
            select(positions.c.partition, positions.c.offset, positions.c.updated_at)
            .where(positions.c.source == source)
            .order_by(positions.c.partition)
        ).all()
    stamps = [datetime.fromisoformat(r.updated_at) for r in rows if r.updated_at]
    updated = max(stamps) if stamps else None
    return {
        "source": source,
        "partitions": [
            {"partition": int(r.partition), "position": int(r.offset), "updated_at": r.updated_at}
            for r in rows
        ],
        "updated_at": updated.isoformat() if updated else None,
        "age_seconds": max(0, int((now - updated).total_seconds())) if updated else None,
        "checked_at": now.isoformat(timespec="seconds"),
    }


def dashboard(
    engine: Engine,
    source: str,
    code: str,
    period: Period,
    industry: str | None,
    as_of: date,
    count: int,
    readable: Callable[[str], bool],
) -> dict[str, Any]:
    """Everything the dashboard draws for one division, period and industry: each figure is a district
    report's, so the charts show what the report API answers for the same query."""
    info = district_info(code)
    return {
        "district": division(info),
        # the divisions above that the caller may read (a bureau's page starts at its own division)
        "breadcrumb": [division(d) for d in breadcrumb(code) if readable(d.code)],
        "period": period.as_dict(),
        "industry": industry,
        "as_of": as_of.isoformat(),
        "summary": district_report(engine, code, period, industry, as_of),
        "comparison": side_by_side(engine, comparison_codes(readable), period, industry, as_of),
        "children": side_by_side(engine, [c for c in children(code) if readable(c)], period, industry, as_of),
        "industries": [
            district_report(engine, code, period, i, as_of) for i in industries_reported(engine, code, period)
        ],
        "trend": trend(engine, code, period, count, industry, as_of),
        "hazards": hazard_picture(engine, code, period, industry, as_of),
        "freshness": freshness(engine, source),
    }


# -- the consumer's accounts (/metrics) ------------------------------------------------------------------


def stored_positions(conn: Connection, source: str) -> dict[int, tuple[int, int]]:
    """Per partition: (stored position, records the consumer says it handled up to there)."""
    rows = conn.execute(select(positions).where(positions.c.source == source))
    return {
        int(r.partition): (int(r.offset), int(r.applied) + int(r.duplicates) + int(r.dead_letters))
        for r in rows
    }


def pruned_positions(conn: Connection, source: str) -> dict[int, tuple[int, int]]:
    """Per partition: (watermark at or before which claims were pruned, how many claims were pruned)."""
    rows = conn.execute(select(positions).where(positions.c.source == source))
    return {int(r.partition): (int(r.pruned_through), int(r.pruned_claims)) for r in rows}


def position_accounts(engine: Engine, source: str, reader: LogReader) -> list[dict[str, Any]]:
    """The cheap, continuous form of ``reconcile`` (for /metrics): per partition, the records the consumer
    says it handled up to its position against the records the log holds up to there, and the lag."""
    with engine.connect() as conn:
        stored = stored_positions(conn, source)
    through = reader.records_through({p: pos for p, (pos, _n) in stored.items()})
    ends = reader.end_positions()
    out = []
    for p in sorted(set(stored) | set(ends)):
        position, handled = stored.get(p, (NOTHING, 0))
        in_log = through.get(p, 0)
        out.append(
            {
                "partition": p,
                "position": position,
                "log_end": ends.get(p, NOTHING),
                "lag": max(0, ends.get(p, NOTHING) - position),
                "handled": handled,
                "log_records_through_position": in_log,
                "consistent": handled == in_log,
            }
        )
    return out
