"""The report API around the figures: CSV, XLSX, trend, side by side, bad queries, the dashboard, rebuild.

Embedded backend (SQLite + SQL event log); the figures themselves are pinned by tests/e2e/
test_rollups_fixture.py, whose scenario this reuses.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from openpyxl import load_workbook

from services.aggregator.service_layer import export
from services.aggregator.service_layer.rebuild import rebuild
from services.aggregator.service_layer.verify import verify
from tests.conftest import System
from tests.documented import breaches
from tests.e2e.test_rollups_fixture import EXPECTED, scenario_system

Q4 = {"period": "quarter", "date": "2026-11-27", "as_of": "2026-11-27"}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    yield from scenario_system(tmp_path_factory, "reports")


def _get(system: System, path: str, **params: Any) -> Any:
    return system.reports.get(path, query_string={**Q4, **params})


def _csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_csv_has_a_bom_a_header_chinese_labels_and_hides_small_cells(loaded: System) -> None:
    resp = _get(loaded, "/api/v1/reports/districts", codes="330100,330784", format="csv")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"  # one charset, not two
    assert "attachment" in resp.headers["Content-Disposition"]
    text = resp.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = _csv_rows(text.removeprefix("\ufeff"))
    assert rows[0] == export.HEADER
    body = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    by = {(r["district"], r["metric"]): r for r in body}
    inspections = by[("330784", "inspections")]
    assert (inspections["label_zh"], inspections["label_en"], inspections["value"]) == (
        "检查次数",
        "Inspections",
        "5",
    )
    assert inspections["district_zh"] == "永康市" and inspections["period"] == "2026-Q4"
    assert by[("330784", "hazards.found_by_category.dust_explosion")]["label_zh"].startswith("按类别隐患")
    # Hangzhou's 4 survey responses: the word, never the number, and no index derived from them
    hz_survey = {
        m: r["value"] for (d, m), r in by.items() if d == "330100" and m.startswith("worker_survey.")
    }
    assert hz_survey == {"worker_survey.responses": "suppressed", "worker_survey.suppressed": "True"}
    yk_survey = {
        m: r["value"] for (d, m), r in by.items() if d == "330784" and m.startswith("worker_survey.")
    }
    assert yk_survey["worker_survey.responses"] == "5"
    assert yk_survey["worker_survey.safety_climate_index"] == "3.6"
    assert by[("330784", "worker_survey.responses")]["label_zh"] == "职工问卷数"


def test_xlsx_loads_and_has_the_csv_rows(loaded: System) -> None:
    resp = _get(loaded, "/api/v1/reports/districts", codes="330100,330784", format="xlsx")
    assert resp.status_code == 200
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(resp.get_data()), read_only=True).worksheets[0]
    xlsx_rows = [[_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    csv_text = _get(loaded, "/api/v1/reports/districts", codes="330100,330784", format="csv").get_data(
        as_text=True
    )
    csv_rows = [[_cell(v) for v in row] for row in _csv_rows(csv_text.removeprefix("\ufeff"))]
    assert xlsx_rows == csv_rows  # numbers compared as numbers: Excel keeps 1.0 as 1
    assert len(xlsx_rows) > 50
    assert ["330100", "worker_survey.responses", "suppressed"] in [[r[0], r[5], r[8]] for r in xlsx_rows]


def _cell(v: Any) -> Any:
    """A CSV or XLSX cell in a comparable form: numbers (not codes) as floats, empty as ""."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int | float):
        return float(v)
    try:
        return float(v) if "." in v or v.isdigit() and len(v) < 6 else v
    except ValueError:
        return v


def test_trend_returns_count_periods_oldest_first(loaded: System) -> None:
    resp = _get(loaded, "/api/v1/reports/districts/330784/trend", period="month", count=4)
    assert resp.status_code == 200
    reps = resp.get_json()["reports"]
    assert [r["period"]["key"] for r in reps] == ["2026-08", "2026-09", "2026-10", "2026-11"]
    # Y4 in August, nothing in Sep and Oct, five inspections in November
    assert [r["figures"]["inspections"] for r in reps] == [1, 0, 0, 5]
    quarters = _get(loaded, "/api/v1/reports/districts/330000/trend", period="quarter", count=2).get_json()
    assert [r["period"]["key"] for r in quarters["reports"]] == ["2026-Q3", "2026-Q4"]
    assert quarters["reports"][1]["figures"] == EXPECTED[("330000", "quarter", "2026-11-27", None)]


def test_side_by_side_keeps_the_order_asked_and_defaults_to_the_four(loaded: System) -> None:
    reps = _get(loaded, "/api/v1/reports/districts", codes="330784,330700,330100").get_json()["reports"]
    assert [r["district"]["code"] for r in reps] == ["330784", "330700", "330100"]
    for r in reps:
        assert r["figures"] == EXPECTED[(r["district"]["code"], "quarter", "2026-11-27", None)]
    default = _get(loaded, "/api/v1/reports/districts").get_json()["reports"]
    assert [r["district"]["code"] for r in default] == ["330000", "330100", "330700", "330784"]
    c34 = _get(loaded, "/api/v1/reports/districts", industry="C34").get_json()["reports"]
    assert [r["figures"]["inspections"] for r in c34] == [4, 1, 3, 2]


@pytest.mark.parametrize(
    ("path", "params", "status", "error_path"),
    [
        ("/api/v1/reports/districts/330784", {"period": "fortnight"}, 400, "period"),
        ("/api/v1/reports/districts/330784", {"date": "2026-13-01"}, 400, "date"),
        ("/api/v1/reports/districts/330784", {"date": "27.11.2026"}, 400, "date"),
        ("/api/v1/reports/districts/330784", {"as_of": "yesterday"}, 400, "as_of"),
        ("/api/v1/reports/districts/330784", {"industry": "C99"}, 400, "industry"),
        ("/api/v1/reports/districts/330784", {"format": "pdf"}, 400, "format"),
        ("/api/v1/reports/districts/999999", {}, 400, "district"),
        ("/api/v1/reports/districts/330103x", {}, 400, "district"),
        ("/api/v1/reports/districts", {"codes": "330784,110000"}, 400, "district"),
        ("/api/v1/reports/districts/999999/trend", {}, 400, "district"),
        ("/api/v1/reports/districts/330784/trend", {"count": "0"}, 400, "count"),
        ("/api/v1/reports/districts/330784/trend", {"count": "61"}, 400, "count"),
        ("/api/v1/reports/districts/330784/trend", {"count": "many"}, 400, "count"),
        ("/api/v1/reports/districts/330784/trend", {"period": "decade"}, 400, "period"),
        ("/?period=fortnight", {}, 400, "period"),
        # Python's date would overflow past 9999-12-31 or before 0001-01-01 (these were 500s)
        ("/api/v1/reports/districts/330784", {"period": "week", "date": "9999-12-31"}, 400, "date"),
        (
            "/api/v1/reports/districts/330784/trend",
            {"period": "year", "date": "0001-01-01", "count": "60"},
            400,
            "date",
        ),
        ("/api/v1/reports/districts/330784", {"as_of": "9999-12-31"}, 400, "as_of"),
        # one documented form of a day; fromisoformat would also read these
        ("/api/v1/reports/districts/330784", {"date": "20261127"}, 400, "date"),
        ("/api/v1/reports/districts/330784", {"date": "2026-W48-5"}, 400, "date"),
        ("/api/v1/reports/districts", {"codes": ",".join(["330784"] * 51)}, 400, "codes"),
    ],
)
def test_bad_queries_are_400_with_the_path(
    loaded: System, path: str, params: dict[str, str], status: int, error_path: str
) -> None:
    if path.startswith("/?"):
        resp = loaded.reports.get(path)
    else:
        resp = _get(loaded, path, **params)
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["error"]["code"] == "invalid_query"
    assert [e["path"] for e in body["error"]["errors"]] == [error_path]


def test_dashboard_names_the_four_divisions(loaded: System) -> None:
    resp = loaded.reports.get("/", query_string={"period": "quarter", "date": "2026-11-27"})
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    for name in ("浙江省", "杭州市", "金华市", "永康市", "检查次数", "2026-Q4"):
        assert name in page, name
    assert "— (已隐藏 hidden)" in page  # Hangzhou's 4 survey responses
    assert "%</td>" in page  # rates read as percentages
    # Chinese by default, English on request (the choice is kept: tests/browser/test_dashboard.py)
    english = loaded.reports.get("/", query_string={"period": "quarter", "date": "2026-11-27", "lang": "en"})
    page = english.get_data(as_text=True)
    for name in ("Zhejiang", "Hangzhou", "Jinhua", "Yongkang", "Inspections", "2026-Q4", "— (suppressed)"):
        assert name in page, name
    assert "检查次数" not in page and "%</td>" in page


def test_rebuild_gives_the_incremental_figures(loaded: System) -> None:
    def figures() -> list[dict[str, Any]]:
        out = []
        for code, period, day, industry in EXPECTED:
            params = {"industry": industry} if industry else {}
            out.append(loaded.report(code, period, day, **params)["figures"])
        return out

    incremental = figures()
    assert incremental == list(EXPECTED.values())
    stats = rebuild(loaded.aggregator)
    assert stats.applied > 0 and stats.dead_letters == 0
    assert figures() == incremental
    assert verify(loaded.aggregator.engine).ok


def test_the_reports_publish_an_openapi_document_of_every_route(loaded: System) -> None:
    spec = loaded.reports.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"] == "3.1.0"
    routes = {
        str(rule).replace("<code>", "{code}")
        for rule in loaded.reports.application.url_map.iter_rules()
        if str(rule).startswith("/api/v1/") and not str(rule).endswith("/openapi.json")
    }
    assert routes == set(spec["paths"])
    one = spec["paths"]["/api/v1/reports/districts/{code}"]["get"]
    assert {p["name"] for p in one["parameters"]} == {"code", "period", "date", "as_of", "industry", "format"}
    assert {"200", "400"} <= set(one["responses"])
    resp = _get(loaded, "/api/v1/reports/districts/330784")
    assert not breaches(spec, "/api/v1/reports/districts/{code}", "GET", resp)
    bad = _get(loaded, "/api/v1/reports/districts/330784", period="fortnight")
    assert bad.status_code == 400 and not breaches(spec, "/api/v1/reports/districts/{code}", "GET", bad)


def test_unknown_addresses_and_methods_get_json_errors(loaded: System) -> None:
    missing = loaded.reports.get("/api/v1/reports/nowhere")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    wrong = loaded.reports.post("/api/v1/reports/districts")
    assert wrong.status_code == 405 and "GET" in wrong.headers["Allow"]
    assert wrong.get_json()["error"]["code"] == "method_not_allowed"
