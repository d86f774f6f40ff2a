"""The aggregator's read models, in one place: district reports (base cells summed over the division
hierarchy and a period, then the derived KPIs) and the consumer's accounts that /metrics shows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, and_, case, func, or_, select

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


@dataclass(frozen=True)
class ReportRequest:
    """One district report: a division, a period and an industry (None: all of them)."""

    code: str
    period: Period
    industry: str | None = None


def district_report(
    engine: Engine, code: str, period: Period, industry: str | None = None, as_of: date | None = None
) -> dict[str, Any]:
    """The report API's one report: the batch of one (``district_reports``)."""
    return district_reports(engine, [ReportRequest(code, period, industry)], as_of)[0]


def district_reports(
    engine: Engine, requests: Sequence[ReportRequest], as_of: date | None = None
) -> list[dict[str, Any]]:
    """The district report of each request, in order, from a few grouped queries for the whole batch.

    Each report is exactly what it would be alone (tests/integration/test_dashboard_batch.py proves it):
    the base cells, distinct members, hazard ledger and survey cells are read once for all requests, grouped
    by only the dimensions the requests differ in, and each report sums its own groups and derives its
    figures with the one ``derive``."""
    for r in requests:
        district_info(r.code)
    as_of = as_of or clock.today()  # the day in China, not the host's
    if not requests:
        return []
    inds = {r.industry for r in requests}
    with engine.connect() as conn:
        cells = _Cells.read(
            conn,
            [(r.code, r.period) for r in requests],
            as_of,
            by_district=len({covered(r.code) for r in requests}) > 1,
            industry=None if len(inds) > 1 else next(iter(inds)),
            by_industry=len(inds) > 1,
        )
    return [cells.report(r) for r in requests]


#: the key of a dimension a batch does not group by (every request of the batch shares its value)
_ALL = "*"
_Key = tuple[str, int, str]  # district (or _ALL), day segment, industry (or _ALL)


def _segments(wanted: Sequence[Period]) -> list[tuple[date, date]]:
    """The periods cut into disjoint day ranges, each inside every period it meets: every period is then a
    union of whole segments (a month and its quarter, a trend's consecutive periods)."""
    bounds = sorted({p.start for p in wanted} | {p.end + timedelta(days=1) for p in wanted})
    out = []
    for lo, nxt in zip(bounds, bounds[1:], strict=False):
        hi = nxt - timedelta(days=1)
        if any(p.start <= lo and hi <= p.end for p in wanted):
            out.append((lo, hi))
    return out


class _Cells:
    """The base figures a batch of reports reads, grouped by (district, day segment, industry) as far as the
    batch needs, and each report summed from its own groups."""

    def __init__(
        self, segments: list[tuple[date, date]], by_district: bool, by_industry: bool, as_of: date
    ) -> None:
        self.segments, self.as_of = segments, as_of
        self.by_district, self.by_industry = by_district, by_industry
        self.sums: dict[tuple[str, int], dict[str, dict[str, int]]] = {}
        self.members: dict[tuple[str, int], dict[str, dict[str, set[str]]]] = {}
        self.counted: dict[_Key, dict[str, int]] | None = None  # distinct counts when each request is one key
        self.ledger: dict[tuple[str, int], dict[str, dict[str, int]]] = {}
        self.survey: dict[tuple[str, str], dict[str, dict[str, int]]] = {}  # (district, month) -> industry ->

    @classmethod
    def read(
        cls,
        conn: Connection,
        wanted: Sequence[tuple[str, Period]],
        as_of: date,
        *,
        by_district: bool,
        industry: str | None,
        by_industry: bool,
    ) -> _Cells:
        """Read the cells of every (division, period) in ``wanted`` (of ``industry`` alone unless
        ``by_industry``; grouped by district when ``by_district``)."""
        segments = _segments([p for _c, p in wanted])
        self = cls(segments, by_district, by_industry, as_of)
        if not wanted:  # a trend of one period has no earlier ones
            return self
        # per segment, the districts some request reads in it; adjacent segments with the same districts are
        # one range, so a trend is one condition and the comparison's period another
        ranges: list[tuple[frozenset[str], date, date]] = []
        for lo, hi in segments:
            area = frozenset(d for c, p in wanted if p.start <= lo and hi <= p.end for d in covered(c))
            if ranges and ranges[-1][0] == area and ranges[-1][2] + timedelta(days=1) == lo:
                ranges[-1] = (area, ranges[-1][1], hi)
            else:
                ranges.append((area, lo, hi))

        def scope(district: Any, day: Any) -> ColumnElement[bool]:
            return or_(*(and_(district.in_(sorted(a)), day.between(lo, hi)) for a, lo, hi in ranges))

        def keys(district: Any, day: Any, ind: Any) -> list[Any]:
            segment = (
                case(*((day <= hi, i) for i, (_lo, hi) in enumerate(segments[:-1])), else_=len(segments) - 1)
                if len(segments) > 1
                else None
            )
            return [
                district.label("k_district") if by_district else None,
                segment.label("k_segment") if segment is not None else None,
                ind.label("k_industry") if by_industry else None,
            ]

        def key(row: Any) -> _Key:
            m = row._mapping
            return (m.get("k_district", _ALL), int(m.get("k_segment", 0)), m.get("k_industry", _ALL))

        d, dm, h = daily.c, daily_members.c, hazards.c
        in_cells = scope(d.district, d.day)
        in_members = and_(scope(dm.district, dm.day), dm.count > 0)
        in_hazards = and_(scope(h.district, h.found_on), h.counts.is_(True))
        if industry:
            in_cells = and_(in_cells, d.industry == industry)
            in_members = and_(in_members, dm.industry == industry)
            in_hazards = and_(in_hazards, h.industry == industry)

        k = [c for c in keys(d.district, d.day, d.industry) if c is not None]
        for r in conn.execute(
            select(*k, d.metric, func.sum(d.value).label("total")).where(in_cells).group_by(*k, d.metric)
        ):
            district, segment, ind = key(r)
            cell = self.sums.setdefault((district, segment), {}).setdefault(ind, {})
            cell[r.metric] = int(r.total)

        k = [c for c in keys(dm.district, dm.day, dm.industry) if c is not None]
        if all(len(self._keys(code, p, None)) == 1 for code, p in wanted):
            # every request is one group: its distinct count is the group's (a trend, a single report)
            self.counted = {}
            for r in conn.execute(
                select(*k, dm.metric, func.count(func.distinct(dm.member)).label("n"))
                .where(in_members)
                .group_by(*k, dm.metric)
            ):
                self.counted.setdefault(key(r), {})[r.metric] = int(r.n)
        else:
            # a prefecture's enterprises are the union of its counties': read who, not how many
            for r in conn.execute(select(*k, dm.metric, dm.member).where(in_members).distinct()):
                district, segment, ind = key(r)
                group = self.members.setdefault((district, segment), {}).setdefault(ind, {})
                group.setdefault(r.metric, set()).add(r.member)

        k = [c for c in keys(h.district, h.found_on, h.industry) if c is not None]
        for r in conn.execute(select(*k, *_ledger_counts(as_of)).where(in_hazards).group_by(*k)):
            district, segment, ind = key(r)
            self.ledger.setdefault((district, segment), {})[ind] = {
                "rectified": int(r.rectified),
                "rectified_on_time": int(r.rectified_on_time),
                "overdue": int(r.overdue),
                "found": int(r.n),
            }

        if any(p.kind in SURVEY_PERIODS for _c, p in wanted):
            # survey cells are one district in one calendar month, whatever the batch groups by
            month = _month(conn, d.day)
            split = [d.industry] if by_industry else []
            for r in conn.execute(
                select(d.district, month.label("month"), *split, d.metric, func.sum(d.value).label("total"))
                .where(in_cells, d.metric.in_(SURVEY_METRICS))
                .group_by(d.district, month, *split, d.metric)
            ):
                survey_cell = self.survey.setdefault((r.district, r.month), {})
                survey_cell.setdefault(r.industry if by_industry else _ALL, {})[r.metric] = int(r.total)
        return self

    def _keys(self, code: str, period: Period, industry: str | None) -> list[_Key]:
        """The groups a report of ``code`` over ``period`` (in ``industry``) sums."""
        districts_ = covered(code) if self.by_district else (_ALL,)
        segments = [i for i, (lo, hi) in enumerate(self.segments) if period.start <= lo and hi <= period.end]
        inds = (industry,) if self.by_industry and industry else (_ALL,)
        return [(dd, s, i) for dd in districts_ for s in segments for i in inds]

    def _pick(self, table: dict[tuple[str, int], dict[str, Any]], k: _Key) -> list[Any]:
        """The values of group ``k`` (all industries of its district and segment when ``k`` names none)."""
        by_industry = table.get((k[0], k[1]), {})
        if k[2] != _ALL or not self.by_industry:
            return [by_industry[k[2]]] if k[2] in by_industry else []
        return list(by_industry.values())

    def report(self, r: ReportRequest) -> dict[str, Any]:
        """``r``'s district report from the cells read (``r`` must be one of the batch's (code, period))."""
        groups = self._keys(r.code, r.period, r.industry)
        sums: dict[str, int] = {}
        ledger = {"rectified": 0, "rectified_on_time": 0, "overdue": 0}
        for k in groups:
            for cell in self._pick(self.sums, k):
                for metric, v in cell.items():
                    sums[metric] = sums.get(metric, 0) + v
            for counts in self._pick(self.ledger, k):
                for name in ledger:
                    ledger[name] += counts[name]
        distinct: dict[str, int] = {}
        if self.counted is not None:
            for k in groups:
                for metric, n in self.counted.get(k, {}).items():
                    distinct[metric] = distinct.get(metric, 0) + n
        else:
            union: dict[str, set[str]] = {}
            for k in groups:
                for group in self._pick(self.members, k):
                    for metric, who in group.items():
                        union.setdefault(metric, set()).update(who)
            distinct = {metric: len(who) for metric, who in union.items()}
        return {
            "district": division(district_info(r.code)),
            "covers": covered(r.code),
            "period": r.period.as_dict(),
            "industry": r.industry,
            "as_of": self.as_of.isoformat(),
            "figures": derive(sums, distinct, ledger, self._survey(r)),
        }

    def _survey(self, r: ReportRequest) -> dict[str, int] | None:
        """The survey sums ``r`` may publish: its (district, month) cells, each summed over the industries it
        reads, then ``published_survey_sums``; None for a day or week."""
        if r.period.kind not in SURVEY_PERIODS:
            return None
        area = set(covered(r.code))
        first, last = r.period.start.strftime("%Y-%m"), r.period.end.strftime("%Y-%m")
        cells: dict[SurveyCell, dict[str, int]] = {}
        for (district, month), by_industry in self.survey.items():
            if district not in area or not first <= month <= last:
                continue
            picked = (
                [by_industry[r.industry]]
                if self.by_industry and r.industry in by_industry
                else []
                if self.by_industry and r.industry
                else list(by_industry.values())
            )
            for metrics in picked:
                cell = cells.setdefault((district, month), {})
                for metric, v in metrics.items():
                    cell[metric] = cell.get(metric, 0) + v
        return published_survey_sums(cells)

    def industries(self, code: str, period: Period) -> list[str]:
        """The GB/T 4754 divisions with any base cell or counting hazard of ``code`` in ``period``, in code
        order, from the cells read (the batch must group by industry); surveys name no industry."""
        assert self.by_industry, "industries present need cells grouped by industry"
        present: set[str] = set()
        for dd, s, _i in self._keys(code, period, None):
            present.update(self.sums.get((dd, s), {}))
            present.update(self.ledger.get((dd, s), {}))
        return sorted(present & set(industries()))  # surveys' "" is no division


def _month(conn: Connection, day: Any) -> Any:
    """A day's calendar month as "YYYY-MM" in SQL."""
    if conn.dialect.name == "postgresql":
        return func.to_char(day, "YYYY-MM")
    return func.strftime("%Y-%m", day)


def _ledger_counts(as_of: date) -> list[Any]:
    """Rectified, rectified on time, overdue and all, among counting hazards (the report's ledger).

    Counted from each hazard's rectification state (``rectified_on``, the day of its first counting
    rectification, and ``rectified_on_time``; kept by the apply step, checked by verify), read from
    ``ix_hazards_district_found`` alone on PostgreSQL: looking each hazard up in its rectifications was nearly
    all of a report's time at a million submissions.  Open on ``as_of`` means not rectified by then."""
    h = hazards.c
    return [
        func.count(h.rectified_on).label("rectified"),
        func.count().filter(h.rectified_on_time.is_(True)).label("rectified_on_time"),
        func.count().filter(_overdue(as_of)).label("overdue"),
        func.count().label("n"),
    ]


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


def side_by_side(
    engine: Engine, codes: list[str], period: Period, industry: str | None = None, as_of: date | None = None
) -> list[dict[str, Any]]:
    return district_reports(engine, [ReportRequest(c, period, industry) for c in codes], as_of)


def trend_periods(period: Period, count: int) -> list[Period]:
    """The ``count`` periods of a trend ending with ``period``, oldest first."""
    out = [period]
    while len(out) < count:
        out.append(out[-1].previous())
    return out[::-1]


def trend(
    engine: Engine,
    code: str,
    period: Period,
    count: int,
    industry: str | None = None,
    as_of: date | None = None,
) -> list[dict[str, Any]]:
    return district_reports(
        engine, [ReportRequest(code, p, industry) for p in trend_periods(period, count)], as_of
    )


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


def hazard_picture(
    engine: Engine, code: str, period: Period, industry: str | None = None, as_of: date | None = None
) -> dict[str, Any]:
    """The hazards found in the period, as the report counts them, broken down: open ones by category and
    severity (their sum is the report's ``hazards.open``), overdue ones by days past the deadline on
    ``as_of`` (their sum is the report's ``hazards.overdue``), with the same conditions as the report."""
    as_of = as_of or clock.today()
    scope = _hazard_scope(covered(code), period, industry)
    h = hazards.c
    # one pass (category and severity are read from the table, not the index): open and overdue counts per
    # category, severity and deadline, summed here into the two breakdowns
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                h.category,
                h.severity,
                h.deadline,
                func.count().filter(~_rectified()).label("open"),
                func.count().filter(_overdue(as_of)).label("overdue"),
            )
            .where(scope)
            .group_by(h.category, h.severity, h.deadline)
        ).all()
    open_by: dict[tuple[str, str], int] = {}
    ages = dict.fromkeys((name for name, _first, _last in OVERDUE_AGE_BUCKETS), 0)
    for r in rows:
        if r.open:
            open_by[(r.category, r.severity)] = open_by.get((r.category, r.severity), 0) + int(r.open)
        bucket = overdue_age_bucket(_as_date(r.deadline), as_of)
        if r.overdue and bucket is not None:  # always: _overdue is "deadline before as_of"
            ages[bucket] += int(r.overdue)
    return {
        "as_of": as_of.isoformat(),
        "open": [{"category": c, "severity": sev, "count": n} for (c, sev), n in sorted(open_by.items())],
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
    compared = comparison_codes(readable)
    below = [c for c in children(code) if readable(c)]
    earlier = trend_periods(period, count)[:-1]
    # two reads for every report the view shows, about 100 queries before (nearly half a second at a million
    # submissions): the period's reports (summary, comparison, drill-down, industries: grouped by district
    # and industry), and the trend's earlier periods, one division in one industry (grouped by period alone:
    # grouping the trend's years of hazards by district and industry too would double its time)
    with engine.connect() as conn:
        now = _Cells.read(
            conn,
            [(code, period), *((c, period) for c in compared + below)],
            as_of,
            by_district=True,
            industry=None,
            by_industry=True,
        )
        past = _Cells.read(
            conn, [(code, p) for p in earlier], as_of, by_district=False, industry=industry, by_industry=False
        )
    for c in [code, *compared, *below]:
        district_info(c)
    return {
        "district": division(info),
        # the divisions above that the caller may read (a bureau's page starts at its own division)
        "breadcrumb": [division(d) for d in breadcrumb(code) if readable(d.code)],
        "period": period.as_dict(),
        "industry": industry,
        "as_of": as_of.isoformat(),
        "summary": now.report(ReportRequest(code, period, industry)),
        "comparison": [now.report(ReportRequest(c, period, industry)) for c in compared],
        "children": [now.report(ReportRequest(c, period, industry)) for c in below],
        "industries": [now.report(ReportRequest(code, period, i)) for i in now.industries(code, period)],
        "trend": [
            *(past.report(ReportRequest(code, p, industry)) for p in earlier),
            now.report(ReportRequest(code, period, industry)),
        ],
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
