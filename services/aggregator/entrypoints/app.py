"""Report API (JSON, CSV, XLSX) and a small dashboard for MEM and the bureaus."""

from __future__ import annotations

import logging
import re
from datetime import date
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template_string, request

from services.aggregator.bootstrap import Aggregator, bootstrap
from services.aggregator.domain.periods import PERIODS
from services.aggregator.entrypoints import metrics as metrics_view
from services.aggregator.entrypoints.docs import docs
from services.aggregator.service_layer import export, reports
from services.common import clock, prom
from services.common.codes import districts, industries
from services.common.config import Settings, from_env
from services.common.errorbody import error_response
from services.common.webapp import make_flask_app

log = logging.getLogger(__name__)
api = Blueprint("reports", __name__, url_prefix="/api/v1/reports")
dashboard = Blueprint("dashboard", __name__)


def _agg() -> Aggregator:
    agg: Aggregator = current_app.extensions["score.aggregator"]
    return agg


def _bad(path: str, message: str) -> Response:
    """400 for a query parameter (or path segment) the reports cannot answer, named by ``path``."""
    return error_response(
        400, "invalid_query", message, [{"path": path, "code": "invalid", "message": message}]
    )


def _iso_day(name: str) -> str:
    """The query parameter ``name`` if it is a ``YYYY-MM-DD`` day, "" when absent or empty (the default).

    Python's ``date.fromisoformat`` also reads ``20261127`` and ``2026-W48-5``; the API promises one form.
    """
    raw = request.args.get(name) or ""
    if raw and not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
        raise reports.ReportError(name, f"{name} must be YYYY-MM-DD")
    return raw


def _query() -> tuple[reports.Period, str | None, date]:
    kind = request.args.get("period", "quarter")
    try:
        anchor = date.fromisoformat(_iso_day("date") or clock.today().isoformat())
    except ValueError:
        raise reports.ReportError("date", "date must be YYYY-MM-DD") from None
    try:
        as_of = date.fromisoformat(_iso_day("as_of") or clock.today().isoformat())
    except ValueError:
        raise reports.ReportError("as_of", "as_of must be YYYY-MM-DD") from None
    industry = request.args.get("industry") or None
    if industry and industry not in industries():
        raise reports.ReportError("industry", f"unknown GB/T 4754 division {industry}")
    return reports.period_of(kind, _bounded("date", anchor)), industry, _bounded("as_of", as_of)


#: The days a report may name: wide enough for any real question, narrow enough that a trend of 60 years
#: before the first of them, or the end of a period holding the last, is still a day Python can represent.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)
MAX_CODES = 50


def _bounded(name: str, day: date) -> date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise reports.ReportError(name, f"{name} must be between {FIRST_DAY} and {LAST_DAY}")
    return day


def _respond(result: list[dict[str, Any]], name: str, single: bool = False) -> Any:
    fmt = request.args.get("format", "json")
    if fmt == "csv":
        return Response(
            export.csv_stream(result),
            content_type="text/csv; charset=utf-8",  # `mimetype=` would append a second charset
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if fmt == "xlsx":
        return Response(
            export.xlsx_bytes(result),
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
        )
    if fmt != "json":
        raise reports.ReportError("format", "format must be json, csv or xlsx")
    return jsonify(result[0] if single else {"reports": result})


@api.errorhandler(reports.ReportError)
def _report_error(exc: reports.ReportError) -> Response:
    return _bad(exc.path, exc.message)


@api.get("/districts/<code>")
def one_district(code: str) -> Any:
    period, industry, as_of = _query()
    rep = reports.district_report(_agg().engine, code, period, industry, as_of)
    return _respond([rep], f"score-{code}-{period.key}", single=True)


@api.get("/districts")
def all_districts() -> Any:
    period, industry, as_of = _query()
    codes = request.args.get("codes")
    wanted = codes.split(",") if codes else reports.DEFAULT_DISTRICTS
    if len(wanted) > MAX_CODES:
        raise reports.ReportError("codes", f"at most {MAX_CODES} districts side by side")
    for c in wanted:
        reports.district_info(c)
    return _respond(
        reports.side_by_side(_agg().engine, wanted, period, industry, as_of), f"score-{period.key}"
    )


@api.get("/districts/<code>/trend")
def district_trend(code: str) -> Any:
    period, industry, as_of = _query()
    try:
        count = int(request.args.get("count", "4"))
    except ValueError:
        raise reports.ReportError("count", "count must be a whole number") from None
    if not 1 <= count <= 60:
        raise reports.ReportError("count", "count must be between 1 and 60")
    return _respond(reports.trend(_agg().engine, code, period, count, industry, as_of), f"score-{code}-trend")


_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>SCORE 安全生产报表 / SCORE work-safety report</title>
<style>body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}caption{text-align:left;font-weight:600;margin:.5rem 0}
.muted{color:#777}</style></head><body>
<h1>SCORE 安全生产报表 <span class="muted">/ work-safety report</span></h1>
<form method="get">期间 Period: <select name="period">{% for p in periods %}<option value="{{p}}"
{% if p == period.kind %}selected{% endif %}>{{p}}</option>{% endfor %}</select>
日期 Date: <input type="date" name="date" value="{{anchor}}">
行业 Industry: <select name="industry"><option value="">全部 All</option>{% for i in industries %}<option
value="{{i.code}}" {% if i.code == industry %}selected{% endif %}>{{i.code}} {{i.name_zh}}</option>{% endfor %}
</select> <button>查看 Show</button>
<a href="/api/v1/reports/districts?{{query}}&format=csv">CSV</a>
<a href="/api/v1/reports/districts?{{query}}&format=xlsx">XLSX</a></form>
<table><caption>{{period.key}} ({{period.start}} – {{period.end}}){% if industry %} · {{industry}}{% endif %}
· 截至 as of {{as_of}}</caption>
<tr><th>指标 Metric</th>{% for r in reps %}<th>{{r.district.name_zh}}<br><span class="muted">{{r.district.name_en}}
{{r.district.code}}</span></th>{% endfor %}</tr>
{% for key, zh, en in rows %}<tr><td>{{zh}} <span class="muted">{{en}}</span></td>
{% for r in reps %}<td>{{ value(r, key) }}</td>{% endfor %}</tr>{% endfor %}
</table><p class="muted">职工问卷按区县×自然月统计，少于 5 份的单元格不显示，也不计入任何合计；日、周不发布问卷数据 /
survey figures count only district x month cells of 5 respondents or more (smaller ones enter no total);
none are published for days or weeks.</p>
</body></html>"""

_DASHBOARD_ROWS = [
    "inspections",
    "enterprises_inspected",
    "compliance_rate",
    "mean_inspection_score",
    "hazards.found",
    "hazards.found_major",
    "hazards.rectified",
    "hazards.rectification_rate",
    "hazards.open",
    "hazards.overdue",
    "worker_survey.responses",
    "worker_survey.safety_climate_index",
    "worker_survey.cooperation_index",
]


def _value(rep: dict[str, Any], key: str) -> Any:
    v: Any = rep["figures"]
    for part in key.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    if v == "suppressed":
        return "— (已隐藏 hidden)"
    if v is None:
        return "–"
    if key.endswith("_rate"):
        return f"{v * 100:.1f}%"  # officials read rates as percentages; the API keeps fractions
    return v


@dashboard.get("/")
def page() -> Any:
    try:
        period, industry, as_of = _query()
    except reports.ReportError as exc:
        return _bad(exc.path, exc.message)
    reps = reports.side_by_side(_agg().engine, reports.DEFAULT_DISTRICTS, period, industry, as_of)
    rows = [(k, *export.LABELS[k]) for k in _DASHBOARD_ROWS]
    anchor = request.args.get("date") or clock.today().isoformat()
    query = urlencode(
        {"period": period.kind, "date": anchor, "as_of": as_of.isoformat(), "industry": industry or ""}
    )
    return render_template_string(
        _PAGE,
        reps=reps,
        rows=rows,
        period=period,
        periods=PERIODS,
        anchor=anchor,
        as_of=as_of.isoformat(),
        industry=industry,
        industries=industries().values(),
        query=query,
        value=_value,
    )


def _metrics_routes(app: Flask, settings: Settings) -> None:
    """``/metrics`` (Prometheus text: requests of every worker, and the consumer's figures) and
    ``/metrics.json`` (the same figures as JSON)."""

    @app.get("/metrics")
    def metrics() -> Response:
        figures = metrics_view.figures
        return prom.response(settings.prometheus_multiproc_dir, lambda: metrics_view.families(figures(app)))

    @app.get("/metrics.json")
    def metrics_json() -> Any:
        return metrics_view.figures(app)


def create_app(settings: Settings | None = None, aggregator: Aggregator | None = None) -> Flask:
    """Application factory: ``flask --app services.aggregator.entrypoints.app run`` or ``score run``."""
    settings = settings or from_env()
    app = make_flask_app(
        __name__,
        extensions={"score.aggregator": aggregator or bootstrap(settings)},
        blueprints=[api, dashboard, docs],
        log=log,
        fault_message=lambda: "the reports are unavailable now; please retry later",
    )

    _metrics_routes(app, settings)

    @app.get("/api/v1/codes/districts")
    def district_codes() -> Any:
        return {"districts": [d.__dict__ for d in districts().values()]}

    return app
