"""Report API (JSON, CSV, XLSX) and a small dashboard for MEM and the bureaus."""

from __future__ import annotations

import logging
import re
from datetime import date
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request

from services.access import AccessStore, Denied
from services.access import bootstrap as access_bootstrap
from services.access import web as access_web
from services.aggregator import views
from services.aggregator.bootstrap import Aggregator, bootstrap
from services.aggregator.domain.periods import PERIODS
from services.aggregator.entrypoints import metrics as metrics_view
from services.aggregator.entrypoints.docs import docs
from services.aggregator.service_layer import export
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
        raise views.ReportError(name, f"{name} must be YYYY-MM-DD")
    return raw


def _query() -> tuple[views.Period, str | None, date]:
    kind = request.args.get("period", "quarter")
    try:
        anchor = date.fromisoformat(_iso_day("date") or clock.today().isoformat())
    except ValueError:
        raise views.ReportError("date", "date must be YYYY-MM-DD") from None
    try:
        as_of = date.fromisoformat(_iso_day("as_of") or clock.today().isoformat())
    except ValueError:
        raise views.ReportError("as_of", "as_of must be YYYY-MM-DD") from None
    industry = request.args.get("industry") or None
    if industry and industry not in industries():
        raise views.ReportError("industry", f"unknown GB/T 4754 division {industry}")
    return views.period_of(kind, _bounded("date", anchor)), industry, _bounded("as_of", as_of)


#: The days a report may name: wide enough for any real question, narrow enough that a trend of 60 years
#: before the first of them, or the end of a period holding the last, is still a day Python can represent.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)
MAX_CODES = 50


def _bounded(name: str, day: date) -> date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise views.ReportError(name, f"{name} must be between {FIRST_DAY} and {LAST_DAY}")
    return day


def _readable(codes: list[str]) -> None:
    """Refuse (403) a report on a known district outside the credential's scope; unknown codes stay 400."""
    who = access_web.principal()
    for code in codes:
        if code in districts() and not who.covers(code, "read_report"):
            raise access_web.out_of_scope("read reports", code)


def _default_codes() -> list[str]:
    """Side by side without ``codes``: the usual four the credential may read, else its own districts."""
    who = access_web.principal()
    return [c for c in views.DEFAULT_DISTRICTS if who.covers(c, "read_report")] or list(who.districts)


def _audit_read(codes: list[str], name: str) -> None:
    """Exports are audited for everyone, report reads for integrators (the outside systems)."""
    fmt = request.args.get("format", "json")
    action = "report.export" if fmt in ("csv", "xlsx") else "report.read"
    if action == "report.read" and "integrator" not in access_web.principal().roles:
        return
    access_web.audit(
        action,
        target=name,
        district=codes[0] if len(codes) == 1 else None,
        detail={
            "codes": codes,
            "format": fmt,
            "query": request.query_string.decode("utf-8", "replace")[:500],
        },
    )


def _respond(result: list[dict[str, Any]], name: str, single: bool = False) -> Any:
    fmt = request.args.get("format", "json")
    if fmt in ("csv", "xlsx", "json"):
        _audit_read(
            [r["district"]["code"] for r in result[:1]]
            if single
            else sorted({r["district"]["code"] for r in result}),
            name,
        )
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
        raise views.ReportError("format", "format must be json, csv or xlsx")
    return jsonify(result[0] if single else {"reports": result})


@api.errorhandler(views.ReportError)
def _report_error(exc: views.ReportError) -> Response:
    return _bad(exc.path, exc.message)


@api.errorhandler(Denied)
def _denied(exc: Denied) -> Response:
    return access_web.denied(exc)


@api.get("/districts/<code>")
def one_district(code: str) -> Any:
    _readable([code])
    period, industry, as_of = _query()
    rep = views.district_report(_agg().engine, code, period, industry, as_of)
    return _respond([rep], f"score-{code}-{period.key}", single=True)


@api.get("/districts")
def all_districts() -> Any:
    period, industry, as_of = _query()
    codes = request.args.get("codes")
    wanted = codes.split(",") if codes else _default_codes()
    if len(wanted) > MAX_CODES:
        raise views.ReportError("codes", f"at most {MAX_CODES} districts side by side")
    _readable(wanted)
    for c in wanted:
        views.district_info(c)
    return _respond(views.side_by_side(_agg().engine, wanted, period, industry, as_of), f"score-{period.key}")


@api.get("/districts/<code>/trend")
def district_trend(code: str) -> Any:
    _readable([code])
    period, industry, as_of = _query()
    try:
        count = int(request.args.get("count", "4"))
    except ValueError:
        raise views.ReportError("count", "count must be a whole number") from None
    if not 1 <= count <= 60:
        raise views.ReportError("count", "count must be between 1 and 60")
    return _respond(views.trend(_agg().engine, code, period, count, industry, as_of), f"score-{code}-trend")


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
    except views.ReportError as exc:
        return _bad(exc.path, exc.message)
    reps = views.side_by_side(_agg().engine, _default_codes(), period, industry, as_of)
    rows = [(k, *export.LABELS[k]) for k in _DASHBOARD_ROWS]
    anchor = request.args.get("date") or clock.today().isoformat()
    query = urlencode(
        {"period": period.kind, "date": anchor, "as_of": as_of.isoformat(), "industry": industry or ""}
    )
    return render_template(
        "dashboard.html",
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
        nonce=access_web.csp_nonce(),
        who=access_web.principal().name,
    )


#: access: who may call what (services/access/model.py has the roles behind each permission)
PUBLIC = frozenset(
    {
        "healthz",
        "reports_docs.openapi_json",
        "district_codes",
        "signin.signin_form",
        "signin.signin",
        "signin.signout",
    }
)
PERMISSIONS = {
    "reports.one_district": "read_report",
    "reports.all_districts": "read_report",
    "reports.district_trend": "read_report",
    "dashboard.page": "read_report",
    "metrics": "operate",
    "metrics_json": "operate",
}


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


def create_app(
    settings: Settings | None = None,
    aggregator: Aggregator | None = None,
    access_store: AccessStore | None = None,
) -> Flask:
    """Application factory: ``flask --app services.aggregator.entrypoints.app run`` or ``score run``."""
    settings = settings or from_env()
    app = make_flask_app(
        __name__,
        extensions={"score.aggregator": aggregator or bootstrap(settings)},
        blueprints=[api, dashboard, docs],
        log=log,
        fault_message=lambda: "the reports are unavailable now; please retry later",
    )
    # a browser loading the dashboard cannot send a bearer header: /signin gives it a session cookie
    access_web.init_app(
        app,
        access_store or access_bootstrap(settings),
        settings,
        public=PUBLIC,
        permissions=PERMISSIONS,
        html={"dashboard.page"},
        sessions=True,
    )

    _metrics_routes(app, settings)

    @app.get("/api/v1/codes/districts")
    def district_codes() -> Any:
        return {"districts": [d.__dict__ for d in districts().values()]}

    return app
