"""The dashboard's JSON read models and its exports, over the hand-computed scenario of
tests/e2e/test_rollups_fixture.py sent through the real pipeline; the read models run on SQLite and on
PostgreSQL (``system`` is parametrised embedded / real).

Every figure of the view must be the report API's for the same query; the hazard picture must add up to
the report's open and overdue counts; a suppressed survey cell stays suppressed in every output.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import load_workbook

from services.aggregator.views import comparison_codes
from services.common.codes import children
from tests.conftest import System
from tests.e2e.test_rollups_fixture import run_scenario

NOV = {"period": "month", "date": "2026-11-27", "as_of": "2026-11-27"}


def _view(s: System, code: str, **params: Any) -> Any:
    resp = s.reports.get(f"/api/v1/dashboard/{code}", query_string={**NOV, **params})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return resp


def test_every_figure_of_the_dashboard_view_is_the_report_apis(system: System) -> None:
    run_scenario(system)
    view = _view(system, "330000", count=3).get_json()
    report = system.report("330000", "month", "2026-11-27")
    assert view["summary"]["figures"] == report["figures"]
    assert [c["code"] for c in view["breadcrumb"]] == ["330000"]

    # the comparison: Hangzhou and its counties, then Jinhua and its counties (Yongkang among them)
    codes = [r["district"]["code"] for r in view["comparison"]]
    assert codes == ["330100", *children("330100"), "330700", *children("330700")]
    assert "330784" in codes and codes == comparison_codes(lambda _c: True)
    side = system.reports.get(
        "/api/v1/reports/districts", query_string={**NOV, "codes": ",".join(codes)}
    ).get_json()["reports"]
    assert [r["figures"] for r in view["comparison"]] == [r["figures"] for r in side]
    assert [r["district"]["code"] for r in view["children"]] == ["330100", "330700"]

    # Hangzhou's November survey cell holds 4 respondents: suppressed wherever it would show
    by_code = {r["district"]["code"]: r["figures"] for r in view["comparison"]}
    assert by_code["330106"]["worker_survey"] == {"responses": "suppressed", "suppressed": True}
    assert by_code["330100"]["worker_survey"]["suppressed"] is True
    assert by_code["330784"]["worker_survey"]["responses"] == 5

    trend = system.reports.get(
        "/api/v1/reports/districts/330000/trend", query_string={**NOV, "count": 3}
    ).get_json()["reports"]
    assert [r["period"]["key"] for r in view["trend"]] == ["2026-09", "2026-10", "2026-11"]
    assert [r["figures"] for r in view["trend"]] == [r["figures"] for r in trend]

    assert [r["industry"] for r in view["industries"]] == ["C33", "C34"]  # surveys name no industry
    for r in view["industries"]:
        api = system.report("330000", "month", "2026-11-27", industry=r["industry"])
        assert r["figures"] == api["figures"]

    # the hazard picture adds up to the report's open and overdue hazards, with the scenario's own cases:
    # Y3 MACH-09 (due 11-26) and Y5 ELEC-02 (due 11-20) overdue 1 and 7 days on 11-27
    hazards = view["hazards"]
    assert sum(h["count"] for h in hazards["open"]) == report["figures"]["hazards"]["open"] == 4
    ages = {b["bucket"]: b["count"] for b in hazards["overdue_by_age"]}
    assert ages == {"1-7": 2, "8-30": 0, "31-90": 0, "91+": 0}
    assert sum(ages.values()) == report["figures"]["hazards"]["overdue"]
    open_cells = {(h["category"], h["severity"]): h["count"] for h in hazards["open"]}
    assert open_cells == {
        ("electrical", "general"): 2,
        ("electrical", "major"): 1,
        ("machinery", "general"): 1,
    }
    # Q4: Xihu's MACH-10 (due 10-15) is 43 days overdue on 11-27
    q4 = _view(system, "330100", period="quarter", count=1).get_json()
    assert {b["bucket"]: b["count"] for b in q4["hazards"]["overdue_by_age"]}["31-90"] == 1

    # freshness: the consumer's stored position, and when it moved
    fresh = view["freshness"]
    assert fresh["partitions"] and all(p["position"] >= 0 and p["updated_at"] for p in fresh["partitions"])
    assert fresh["updated_at"] is not None and 0 <= fresh["age_seconds"] < 3600


def test_the_exports_hold_exactly_the_view_in_the_chosen_language(system: System) -> None:
    run_scenario(system)
    view = _view(system, "330700", count=2).get_json()
    zh = _view(system, "330700", count=2, format="csv").get_data(as_text=True)
    assert zh.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(zh.lstrip("\ufeff"))))
    assert rows[0] == ["部分", "行政区划代码", "行政区划", "期间", "行业", "指标代码", "指标", "数值"]
    body = rows[1:]
    summary = {r[5]: r[7] for r in body if r[0] == "概况"}
    assert summary["inspections"] == str(view["summary"]["figures"]["inspections"]) == "6"
    assert summary["hazards.rectification_rate"] == str(
        view["summary"]["figures"]["hazards"]["rectification_rate"]
    )
    # every section of the view, every report of it: 13 figures each, plus the hazard picture's rows
    reports = 1 + sum(len(view[k]) for k in ("comparison", "children", "industries", "trend"))
    hazard_rows = len(view["hazards"]["open"]) + len(view["hazards"]["overdue_by_age"])
    assert len(body) == reports * 13 + hazard_rows
    in_view = {
        r["district"]["code"] for k in ("comparison", "children", "industries", "trend") for r in view[k]
    }
    assert {r[1] for r in body} == in_view | {"330700"}  # the view's divisions, nothing else

    en = _view(system, "330700", count=2, format="xlsx", lang="en")
    book = load_workbook(io.BytesIO(en.get_data()))
    assert book.sheetnames[:3] == ["Summary", "Comparison", "Divisions below"]
    sheet = book["Summary"]
    header, *values = list(sheet.iter_rows(values_only=True))
    assert header == (
        "section",
        "district_code",
        "district",
        "period",
        "industry",
        "metric_code",
        "metric",
        "value",
    )
    by_metric = {r[5]: r for r in values}
    assert by_metric["inspections"][2] == "Jinhua" and by_metric["inspections"][6] == "Inspections"
    assert (
        by_metric["hazards.rectification_rate"][7]
        == view["summary"]["figures"]["hazards"]["rectification_rate"]
    )

    # Hangzhou in English: its survey figures read "suppressed", never 0
    hz = _view(system, "330100", format="csv", lang="en", count=1).get_data(as_text=True)
    survey = [r for r in csv.reader(io.StringIO(hz.lstrip("\ufeff"))) if r[5].startswith("worker_survey.")]
    summary_rows = [r for r in survey if r[0] == "Summary"]
    assert summary_rows and all(r[7] == "suppressed" for r in summary_rows), summary_rows


def test_a_bureau_sees_only_its_own_divisions_in_the_view(system: System) -> None:
    run_scenario(system)
    jinhua = system.access.issue("jh-bureau", ["reviewer"], ["330700"]).token
    auth = {"Authorization": f"Bearer {jinhua}"}
    view = system.reports.get("/api/v1/dashboard/330700", query_string=NOV, headers=auth).get_json()
    named = {r["district"]["code"] for k in ("comparison", "children") for r in view[k]}
    named |= {c["code"] for c in view["breadcrumb"]}
    assert named and named <= {"330700", *children("330700")}, named
    assert [c["code"] for c in view["breadcrumb"]] == ["330700"]  # Zhejiang above it is not its to read
    for code in ("330000", "330100", "330106"):
        refused = system.reports.get(f"/api/v1/dashboard/{code}", query_string=NOV, headers=auth)
        assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "out_of_scope"


def test_bad_dashboard_queries_are_400_with_the_path(system: System) -> None:
    for params, path in (
        ({"period": "fortnight"}, "period"),
        ({"count": "0"}, "count"),
        ({"count": "x"}, "count"),
        ({"lang": "fr"}, "lang"),
        ({"format": "pdf"}, "format"),
        ({"industry": "C99"}, "industry"),
        ({"date": "2026-13-01"}, "date"),
    ):
        resp = system.reports.get("/api/v1/dashboard/330784", query_string={**NOV, **params})
        assert resp.status_code == 400, (params, resp.status_code)
        assert [e["path"] for e in resp.get_json()["error"]["errors"]] == [path]
    unknown = system.reports.get("/api/v1/dashboard/999999", query_string=NOV)
    assert unknown.status_code == 400 and unknown.get_json()["error"]["errors"][0]["path"] == "district"
    page = system.reports.get("/", query_string={"metric": "nothing"})
    assert page.status_code == 400 and page.get_json()["error"]["errors"][0]["path"] == "metric"
