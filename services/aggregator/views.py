"""The aggregator's read models, in one place: district reports (base cells summed over the division
hierarchy and a period, then the derived KPIs) and the consumer's accounts that /metrics shows."""

from __future__ import annotations

from datetime import date
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
    SURVEY_METRICS,
    SURVEY_PERIODS,
    SurveyCell,
    derive,
    published_survey_sums,
)
from services.aggregator.domain.periods import Period
from services.common import clock
from services.common.codes import District, covered, districts
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
    in_hazards = and_(hazards.c.district.in_(area), hazards.c.found_on.between(period.start, period.end))
    if industry:
        in_cells = and_(in_cells, daily.c.industry == industry)
        in_members = and_(in_members, daily_members.c.industry == industry)
        in_hazards = and_(in_hazards, hazards.c.industry == industry)
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
        "district": {
            "code": info.code,
            "name_zh": info.name_zh,
            "name_en": info.name_en,
            "level": info.level,
        },
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
            func.count()
            .filter(
                h.c.deadline < as_of,  # open on the report day and past its deadline
                h.c.rectified_on.is_(None) | (h.c.rectified_on > as_of),
            )
            .label("overdue"),
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


# -- the consumer's accounts (/metrics) ------------------------------------------------------------------


def stored_positions(conn: Connection, source: str) -> dict[int, tuple[int, int]]:
    """Per partition: (stored position, records the consumer says it handled up to there)."""
    rows = conn.execute(select(positions).where(positions.c.source == source))
    return {
        int(r.partition): (int(r.offset), int(r.applied) + int(r.duplicates) + int(r.dead_letters))
        for r in rows
    }


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
