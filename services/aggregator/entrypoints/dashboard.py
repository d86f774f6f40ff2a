"""The dashboard: a server-rendered page (``/``) whose charts draw the JSON of ``/api/v1/dashboard/<code>``.

The page renders the frame (filters, breadcrumb, the language switch, the freshness line, an overview table
that reads without JavaScript); ``web/dashboard.js`` (ECharts, bundled by ``make web``) fetches the view's
JSON and draws the charts from it, so what is drawn is what the API answers, and every figure in that JSON
is a district report's (``views.dashboard``).  The same URL with ``format=csv|xlsx`` exports exactly that
view, labelled in the chosen language.  Access: the report API's rules (``read_report``, district scopes).

Language: Chinese by default; ``?lang=en`` (or ``zh``) switches and is kept in a cookie.  Numbers,
percentages and dates are formatted in the browser with ``Intl`` for the chosen locale.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from services.access import Denied
from services.access import web as access_web
from services.aggregator import views
from services.aggregator.bootstrap import Aggregator
from services.aggregator.domain.kpis import OVERDUE_AGE_BUCKETS
from services.aggregator.domain.periods import PERIODS
from services.aggregator.entrypoints import query as q
from services.aggregator.service_layer import dashboard_export, export
from services.aggregator.service_layer.dashboard_export import KEY_METRICS
from services.aggregator.service_layer.labels import CATEGORY_LABELS, PERIOD_LABELS, SEVERITY_LABELS
from services.common import clock
from services.common.codes import districts, industries

page_bp = Blueprint("dashboard", __name__)
api_bp = Blueprint("dashboard_api", __name__, url_prefix="/api/v1/dashboard")

LANGS = ("zh", "en")
LANG_COOKIE = "score_lang"
#: the page's defaults: the last twelve months
DEFAULT_PERIOD, DEFAULT_COUNT = "month", 12


#: the page's words; the charts' words travel to the script in the page (``i18n`` data block)
TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "title": "SCORE 安全生产看板",
        "subtitle": "浙江 · 杭州 · 金华 · 永康",
        "signout": "退出",
        "district": "行政区划",
        "period": "统计周期",
        "date": "日期",
        "as_of": "截至",
        "industry": "行业",
        "all_industries": "全部行业",
        "manufacturing": "C 制造业",
        "metric": "对比指标",
        "count": "趋势期数",
        "show": "查看",
        "export": "导出当前视图",
        "summary": "概况",
        "comparison": "地区对比：杭州、金华、永康及各区县",
        "drilldown": "下钻：下级行政区划",
        "by_industry": "按行业（GB/T 4754）",
        "trends": "趋势",
        "trend_inspections": "检查次数",
        "trend_hazards": "隐患：发现、已整改、未整改、逾期",
        "trend_rates": "整改率与合规率",
        "trend_score": "平均检查得分",
        "trend_survey": "职工问卷指数",
        "hazard_picture": "隐患分布",
        "open_by_category": "未整改隐患：按类别与等级",
        "overdue_by_age": "逾期隐患：按逾期天数",
        "overview": "一览表",
        "metric_col": "指标",
        "freshness_none": "尚无数据：汇总服务还未处理任何记录",
        "freshness": "数据截至日志位置 {position}",
        "updated": "更新于",
        "no_children": "无下级行政区划",
        "no_data": "本期无数据",
        "suppressed": "已隐藏",
        "suppressed_cell": "— (已隐藏 hidden)",
        "days": "天",
        "loading": "正在加载…",
        "load_failed": "数据加载失败，请刷新重试",
        "survey_note": "职工问卷按区县×自然月统计，少于 5 份的单元格显示为“已隐藏”，不计入任何合计；"
        "日、周不发布问卷数据。",
        "hazard_note": "隐患按发现期间统计；逾期 = 截至日期仍未整改且已过整改期限。",
        "forbidden": "此凭证无权查看该行政区划的报表",
    },
    "en": {
        "title": "SCORE work-safety dashboard",
        "subtitle": "Zhejiang · Hangzhou · Jinhua · Yongkang",
        "signout": "Sign out",
        "district": "Division",
        "period": "Period",
        "date": "Date",
        "as_of": "As of",
        "industry": "Industry",
        "all_industries": "All industries",
        "manufacturing": "C Manufacturing",
        "metric": "Compare by",
        "count": "Periods in trends",
        "show": "Show",
        "export": "Export this view",
        "summary": "Summary",
        "comparison": "Comparison: Hangzhou, Jinhua, Yongkang and their counties",
        "drilldown": "Drill down: divisions below",
        "by_industry": "By industry (GB/T 4754)",
        "trends": "Trends",
        "trend_inspections": "Inspections",
        "trend_hazards": "Hazards: found, rectified, open, overdue",
        "trend_rates": "Rectification and compliance rates",
        "trend_score": "Mean inspection score",
        "trend_survey": "Worker survey indices",
        "hazard_picture": "Hazard picture",
        "open_by_category": "Open hazards by category and severity",
        "overdue_by_age": "Overdue hazards by days past the deadline",
        "overview": "Overview",
        "metric_col": "Metric",
        "freshness_none": "No figures yet: the aggregator has not applied any record",
        "freshness": "Figures as of log position {position}",
        "updated": "updated",
        "no_children": "No divisions below",
        "no_data": "No data in this period",
        "suppressed": "suppressed",
        "suppressed_cell": "— (suppressed)",
        "days": "days",
        "loading": "Loading…",
        "load_failed": "The figures could not be loaded; please reload",
        "survey_note": "Survey figures count only district x calendar-month cells of 5 respondents or more; "
        "smaller cells read “suppressed” and enter no total; none are published for days or weeks.",
        "hazard_note": "Hazards count in the period they were found; overdue = still open on the as-of day "
        "and past the deadline.",
        "forbidden": "this credential may not read reports of this division",
    },
}


def _agg() -> Aggregator:
    agg: Aggregator = current_app.extensions["score.aggregator"]
    return agg


def chosen_lang() -> str:
    """``?lang=`` (checked), else the kept choice (cookie), else Chinese."""
    raw = request.args.get("lang")
    if raw is not None:
        if raw not in LANGS:
            raise views.ReportError("lang", "lang must be zh or en")
        return raw
    kept = request.cookies.get(LANG_COOKIE)
    return kept if kept in LANGS else "zh"


def _home_district() -> str:
    """The division the page opens on: Zhejiang when the credential reads it, else its first district."""
    who = access_web.principal()
    if who.covers("330000", "read_report"):
        return "330000"
    return who.districts[0] if who.districts else "330000"


def _district_choices(lang: str) -> list[tuple[str, str, int]]:
    """(code, name, depth) of every active division the caller may read, in hierarchy order."""
    table = districts()
    out: list[tuple[str, str, int]] = []

    def walk(code: str, depth: int) -> None:
        d = table[code]
        if d.active and q.readable(code):
            out.append((code, d.name_zh if lang == "zh" else d.name_en, depth))
        for c in sorted(c.code for c in table.values() if c.parent == code and c.active):
            walk(c, depth + 1)

    for root in sorted(c for c, d in table.items() if d.parent is None):
        walk(root, 0)
    return out


def _value(rep: dict[str, Any], key: str, lang: str) -> Any:
    """A figure of the server-rendered overview table (the page's reading without JavaScript)."""
    v: Any = rep["figures"]
    if key.startswith("worker_survey.") and v["worker_survey"].get("suppressed"):
        return TEXT[lang]["suppressed_cell"]
    for part in key.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    if v == "suppressed":
        return TEXT[lang]["suppressed_cell"]
    if v is None:
        return "–"
    if key.endswith("_rate"):
        return f"{v * 100:.1f}%"  # officials read rates as percentages; the API keeps fractions
    return v


def _view_query(
    period: views.Period, industry: str | None, anchor: str, as_of: str, count: int
) -> dict[str, Any]:
    return {
        "period": period.kind,
        "date": anchor,
        "as_of": as_of,
        "industry": industry or "",
        "count": count,
    }


@page_bp.get("/")
def page() -> Any:
    try:
        lang = chosen_lang()
        period, industry, as_of = q.query(DEFAULT_PERIOD)
        count = q.count(DEFAULT_COUNT)
        metric = request.args.get("metric") or KEY_METRICS[0]
        if metric not in KEY_METRICS:
            raise views.ReportError("metric", f"metric must be one of {', '.join(KEY_METRICS)}")
        code = request.args.get("district") or _home_district()
        views.district_info(code)
    except views.ReportError as exc:
        return q.bad(exc.path, exc.message)
    text = TEXT[lang]
    if not q.readable(code):
        return Response(
            render_template("forbidden.html", lang=lang, text=text, code=code, nonce=access_web.csp_nonce()),
            status=403,
        )
    anchor = request.args.get("date") or clock.today().isoformat()
    params = {**_view_query(period, industry, anchor, as_of.isoformat(), count), "metric": metric}

    def url(**changes: Any) -> str:
        merged = {**params, "district": code, "lang": lang, **changes}
        return "/?" + urlencode({k: v for k, v in merged.items() if v not in ("", None)})

    api_query = {
        k: v for k, v in _view_query(period, industry, anchor, as_of.isoformat(), count).items() if v
    }
    api_url = f"/api/v1/dashboard/{code}?" + urlencode(api_query)
    engine = _agg().engine
    overview = views.side_by_side(
        engine,
        [c for c in views.DEFAULT_DISTRICTS if q.readable(c)] or list(access_web.principal().districts),
        period,
        industry,
        as_of,
    )
    pick = 0 if lang == "zh" else 1
    metric_names = {k: export.LABELS[k][pick] for k in KEY_METRICS}
    i18n: dict[str, Any] = {
        "lang": lang,
        "locale": "zh-CN" if lang == "zh" else "en",
        "text": text,
        "metrics": metric_names,
        "categories": {k: v[pick] for k, v in CATEGORY_LABELS.items()},
        "severities": {k: v[pick] for k, v in SEVERITY_LABELS.items()},
        "industries": {c: (i.name_zh if lang == "zh" else i.name_en) for c, i in industries().items()},
        "age_buckets": [name for name, _first, _last in OVERDUE_AGE_BUCKETS],
        "metric": metric,
    }
    resp = Response(
        render_template(
            "dashboard.html",
            lang=lang,
            text=text,
            i18n=i18n,
            code=code,
            info=views.district_info(code),
            crumbs=[d for d in views.breadcrumb(code) if q.readable(d.code)],
            districts=_district_choices(lang),
            periods=[(p, PERIOD_LABELS[p][pick]) for p in PERIODS],
            period=period,
            anchor=anchor,
            as_of=as_of.isoformat(),
            industry=industry,
            industries=industries().values(),
            metric=metric,
            metrics=list(metric_names.items()),
            count=count,
            url=url,
            api_url=api_url,
            export_csv=api_url + "&" + urlencode({"format": "csv", "lang": lang}),
            export_xlsx=api_url + "&" + urlencode({"format": "xlsx", "lang": lang}),
            freshness=views.freshness(engine, _agg().source_name),
            overview=overview,
            rows=list(metric_names.items()),
            value=lambda rep, key: _value(rep, key, lang),
            nonce=access_web.csp_nonce(),
            who=access_web.principal().name,
        ),
        mimetype="text/html",
    )
    if request.args.get("lang") in LANGS:  # keep the choice for the next visit
        resp.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=int(timedelta(days=365).total_seconds()),
            httponly=True,
            samesite="Strict",
            secure=_agg().settings.secure_cookies,
        )
    return resp


@api_bp.errorhandler(views.ReportError)
def _report_error(exc: views.ReportError) -> Response:
    return q.bad(exc.path, exc.message)


@api_bp.errorhandler(Denied)
def _denied(exc: Denied) -> Response:
    return access_web.denied(exc)


@api_bp.get("/<code>")
def view(code: str) -> Any:
    """The dashboard's figures for one division: JSON for the charts, or the same view as CSV or XLSX."""
    q.require_readable([code])
    views.district_info(code)
    lang = chosen_lang()
    period, industry, as_of = q.query(DEFAULT_PERIOD)
    count = q.count(DEFAULT_COUNT)
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "csv", "xlsx"):
        raise views.ReportError("format", "format must be json, csv or xlsx")
    result = views.dashboard(
        _agg().engine, _agg().source_name, code, period, industry, as_of, count, q.readable
    )
    who = access_web.principal()
    if fmt != "json" or "integrator" in who.roles:  # as the report API: exports for all, reads by integrators
        access_web.audit(
            "report.export" if fmt != "json" else "report.read",
            target=f"dashboard-{code}-{period.key}",
            district=code,
            detail={"format": fmt, "query": request.query_string.decode("utf-8", "replace")[:500]},
        )
    name = f"score-dashboard-{code}-{period.key}"
    if fmt == "csv":
        return Response(
            dashboard_export.csv_stream(result, lang, KEY_METRICS),
            content_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if fmt == "xlsx":
        return Response(
            dashboard_export.xlsx_bytes(result, lang, KEY_METRICS),
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
        )
    return jsonify(result)
