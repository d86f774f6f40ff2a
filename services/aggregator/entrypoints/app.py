"""Report API (JSON, CSV, XLSX) and the dashboard (``entrypoints/dashboard.py``) for MEM and the bureaus."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from services.access import AccessStore, Denied
from services.access import bootstrap as access_bootstrap
from services.access import web as access_web
from services.aggregator import views
from services.aggregator.bootstrap import Aggregator, bootstrap
from services.aggregator.entrypoints import dashboard
from services.aggregator.entrypoints import metrics as metrics_view
from services.aggregator.entrypoints import query as q
from services.aggregator.entrypoints.docs import docs
from services.aggregator.service_layer import export
from services.common import prom
from services.common.codes import districts
from services.common.config import Settings, from_env
from services.common.webapp import make_flask_app

log = logging.getLogger(__name__)
api = Blueprint("reports", __name__, url_prefix="/api/v1/reports")


def _agg() -> Aggregator:
    agg: Aggregator = current_app.extensions["score.aggregator"]
    return agg


_bad = q.bad
_query = q.query
_readable = q.require_readable
MAX_CODES = q.MAX_CODES


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
    count = q.count(4)
    return _respond(views.trend(_agg().engine, code, period, count, industry, as_of), f"score-{code}-trend")


#: access: who may call what (services/access/model.py has the roles behind each permission)
PUBLIC = frozenset(
    {
        "healthz",
        "reports_docs.openapi_json",
        "district_codes",
        "signin.signin_form",
        "signin.signin",
        "signin.signout",
        "static",  # the dashboard's script and styles (no figures in them)
    }
)
PERMISSIONS = {
    "reports.one_district": "read_report",
    "reports.all_districts": "read_report",
    "reports.district_trend": "read_report",
    "dashboard.page": "read_report",
    "dashboard_api.view": "read_report",
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
        blueprints=[api, dashboard.page_bp, dashboard.api_bp, docs],
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
