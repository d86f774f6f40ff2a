"""The dashboard in headless Chromium over data sent through the real pipeline (intake -> outbox -> consumer,
SQLite): the figures each chart draws (SVG text, read back from the page) equal the report API's for the
same query, through a change of language, period, district and industry; a suppressed survey cell is drawn
as suppressed; the page keeps its CSP (no violation) and saves screenshots as artefacts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from tests.browser.conftest import screenshot
from tests.conftest import System
from tests.e2e.test_rollups_fixture import scenario_system

DESKTOP = {"width": 1366, "height": 900}
NOV = {"period": "month", "date": "2026-11-27", "as_of": "2026-11-27"}

#: what a chart drew: per series key, its value labels in category order (top to bottom, left to right)
READ_CHART = """(id) => {
  const el = document.getElementById(id);
  const series = JSON.parse(el.dataset.series), horizontal = el.dataset.horizontal === "1";
  const texts = [...el.querySelectorAll("svg text")].map((t) => {
    const b = t.getBoundingClientRect();
    return { text: t.textContent, fill: t.getAttribute("fill"), x: b.x + b.width / 2, y: b.y + b.height / 2 };
  });
  const out = {};
  for (const s of series) {
    out[s.key] = texts.filter((t) => t.fill === s.color)
      .sort((a, b) => (horizontal ? a.y - b.y : a.x - b.x)).map((t) => t.text);
  }
  const lines = series.filter((s) => s.line).map((s) => s.key);
  return { categories: JSON.parse(el.dataset.categories), series: out, lines };
}"""


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    yield from scenario_system(tmp_path_factory, "dashboard")


@pytest.fixture
def desk(chromium: Any, loaded: System, serve: Any) -> Iterator[tuple[Any, str, list[str]]]:
    """A signed-in desktop page (zh-CN browser), the base URL, and the console's errors."""
    base = serve(loaded.reports.application)
    ctx = chromium.new_context(viewport=DESKTOP, locale="zh-CN")
    ctx.set_default_timeout(30_000)
    page = ctx.new_page()
    errors: list[str] = []
    # the browser's own favicon request is the one 404 a page may cause (the app serves none)
    page.on(
        "console",
        lambda m: (
            errors.append(f"{m.text} {m.location.get('url')}")
            if m.type == "error" and not str(m.location.get("url", "")).endswith("/favicon.ico")
            else None
        ),
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    ministry = loaded.access.issue("browser-ministry", ["ministry"], kind="api").token
    page.goto(f"{base}/signin")
    page.fill("input[name=token]", ministry)
    page.click("button")
    page.wait_for_url(f"{base}/")
    yield page, base, errors
    ctx.close()


def _open(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")


def _drawn(text: str) -> Any:
    """A drawn label as a value: "suppressed", None ("–"), ("%", a percentage) or a number."""
    text = text.strip()
    if text in ("已隐藏", "suppressed"):
        return "suppressed"
    if text == "–":
        return None
    if text.endswith("%"):
        return ("%", Decimal(text[:-1].replace(",", "")))
    return float(text.replace(",", ""))


def _expected(report: dict[str, Any], key: str) -> Any:
    f = report["figures"]
    if key.startswith("worker_survey.") and f["worker_survey"]["suppressed"]:
        return "suppressed"
    v: Any = f
    for part in key.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    if v is None or v == "suppressed":
        return v
    if key.endswith("_rate"):  # drawn as a percentage with one decimal, half away from zero (as Intl does)
        return ("%", (Decimal(str(v)) * 100).quantize(Decimal("0.1"), ROUND_HALF_UP))
    return float(v)


def _api(s: System, path: str, **params: Any) -> Any:
    resp = s.reports.get(path, query_string={**NOV, **params})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    return resp.get_json()


def _assert_chart(page: Any, chart: str, reports: list[dict[str, Any]], keys: list[str]) -> dict[str, Any]:
    """Every series ``keys`` of ``chart`` drew, in category order, the figures of ``reports``."""
    drawn = page.evaluate(READ_CHART, chart)
    assert len(drawn["categories"]) == len(reports), (chart, drawn["categories"])
    for key in keys:
        want = [_expected(r, key) for r in reports]
        if key in drawn["lines"]:  # a line draws no point (and no label) where there is nothing to divide by
            want = [v for v in want if v is not None]
        got = [_drawn(t) for t in drawn["series"][key]]
        assert got == want, (chart, key, got, want)
    return dict(drawn)


def _check_view(page: Any, s: System, code: str, metric: str, **params: Any) -> None:
    """Every chart of the page against the report API (not the dashboard's own JSON)."""
    count = int(params.pop("count", 12))
    summary = _api(s, f"/api/v1/reports/districts/{code}", **params)
    for tile in page.query_selector_all("#summary .tile"):
        key = tile.get_attribute("data-metric")
        assert _drawn(tile.query_selector(".value").inner_text()) == _expected(summary, key), key
    drawn = page.evaluate(READ_CHART, "chart-compare")
    compare = _api(s, "/api/v1/reports/districts", codes=",".join(drawn["categories"]), **params)["reports"]
    _assert_chart(page, "chart-compare", compare, [metric])
    trend = _api(s, f"/api/v1/reports/districts/{code}/trend", count=count, **params)["reports"]
    _assert_chart(page, "chart-trend-inspections", trend, ["inspections"])
    _assert_chart(
        page,
        "chart-trend-hazards",
        trend,
        ["hazards.found", "hazards.rectified", "hazards.open", "hazards.overdue"],
    )
    _assert_chart(page, "chart-trend-rates", trend, ["hazards.rectification_rate", "compliance_rate"])
    _assert_chart(page, "chart-trend-score", trend, ["mean_inspection_score"])
    _assert_chart(
        page,
        "chart-trend-survey",
        trend,
        ["worker_survey.safety_climate_index", "worker_survey.cooperation_index"],
    )
    # the hazard picture adds up to the report's open and overdue hazards
    opened = page.evaluate(READ_CHART, "chart-hazard-open")
    assert (
        sum(_drawn(t) for k in ("general", "major") for t in opened["series"].get(k, []))
        == summary["figures"]["hazards"]["open"]
    )
    overdue = page.evaluate(READ_CHART, "chart-hazard-overdue")
    assert sum(_drawn(t) for t in overdue["series"]["overdue"]) == summary["figures"]["hazards"]["overdue"]


def test_the_drawn_figures_equal_the_report_api_through_language_period_district_and_industry(
    desk: tuple[Any, str, list[str]], loaded: System
) -> None:
    page, base, errors = desk
    s = loaded

    # Chinese by default: Zhejiang, November, compared by inspections
    _open(page, f"{base}/?period=month&date=2026-11-27&as_of=2026-11-27&count=6")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert "数据截至日志位置" in page.inner_text("#freshness")
    assert re.search(r"(秒|分钟)", page.inner_text("#freshness-time"))  # "8 秒钟前": how long ago, in Chinese
    _check_view(page, s, "330000", "inspections", count=6)
    children = _assert_chart(
        page,
        "chart-children",
        _api(s, "/api/v1/reports/districts", codes="330100,330700")["reports"],
        ["inspections"],
    )
    assert children["categories"] == ["330100", "330700"]
    screenshot(page, "dashboard-zh-province-month")

    # English, kept in a cookie: the next page without ?lang= is English too
    page.click("#lang-en")
    page.wait_for_selector("body[data-ready='1']")
    _open(page, f"{base}/?period=month&date=2026-11-27&as_of=2026-11-27&count=6")
    assert page.get_attribute("html", "lang") == "en"
    assert "Figures as of log position" in page.inner_text("#freshness")
    assert "Jinhua" in page.inner_text("#chart-compare") and "金华市" not in page.inner_text("#chart-compare")
    _check_view(page, s, "330000", "inspections", count=6)
    screenshot(page, "dashboard-en-province-month")

    # period: quarters, through the form
    page.select_option("#f-period", "quarter")
    page.fill("#f-count", "4")
    page.click("#f-show")
    page.wait_for_selector("body[data-ready='1']")
    assert "period=quarter" in page.url
    _check_view(page, s, "330000", "inspections", period="quarter", count=4)
    trend = page.evaluate(READ_CHART, "chart-trend-inspections")
    assert trend["categories"] == ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]

    # district: drill down to Jinhua with the form, then to Yongkang by clicking its bar; the period stays
    page.select_option("#f-district", "330700")
    page.click("#f-show")
    page.wait_for_selector("body[data-ready='1']")
    _check_view(page, s, "330700", "inspections", period="quarter", count=4)
    kids = page.evaluate(READ_CHART, "chart-children")
    assert "330784" in kids["categories"]
    label = page.locator("#chart-children svg text", has_text="Yongkang").first
    label.scroll_into_view_if_needed()
    name = label.bounding_box()  # in the viewport: where the mouse can reach
    page.mouse.click(name["x"] + name["width"] / 2, name["y"] + name["height"] / 2)
    page.wait_for_url(re.compile(r"district=330784"))
    page.wait_for_selector("body[data-ready='1']")
    assert "period=quarter" in page.url
    assert page.inner_text("#breadcrumb").split(" › ") == ["Zhejiang", "Jinhua", "Yongkang"]
    _check_view(page, s, "330784", "inspections", period="quarter", count=4)
    screenshot(page, "dashboard-en-yongkang-quarter")

    # industry: C34 general-purpose machinery
    page.select_option("#f-industry", "C34")
    page.click("#f-show")
    page.wait_for_selector("body[data-ready='1']")
    _check_view(page, s, "330784", "inspections", period="quarter", count=4, industry="C34")
    assert page.inner_text("#industry-crumb") == "C34"

    # the export links carry exactly this view's query, in English
    csv_href = page.get_attribute("#export-csv", "href")
    assert "/api/v1/dashboard/330784?" in csv_href and "industry=C34" in csv_href and "lang=en" in csv_href
    exported = page.request.get(base + csv_href)
    assert exported.ok and exported.text().lstrip("\ufeff").startswith("section,district_code,district")
    assert not errors, errors  # no script error, no CSP refusal


def test_a_suppressed_survey_cell_is_drawn_as_suppressed(
    desk: tuple[Any, str, list[str]], loaded: System
) -> None:
    page, base, errors = desk
    metric = "worker_survey.safety_climate_index"
    _open(page, f"{base}/?lang=zh&period=month&date=2026-11-27&as_of=2026-11-27&count=3&metric={metric}")
    drawn = page.evaluate(READ_CHART, "chart-compare")
    labels = dict(zip(drawn["categories"], drawn["series"][metric], strict=True))
    # Xihu 330106 holds 4 November respondents: suppressed, and so is Hangzhou's total; Yongkang's 5 show
    assert labels["330106"] == labels["330100"] == "已隐藏"
    assert (
        _drawn(labels["330784"]) == _expected(loaded.report("330784", "month", "2026-11-27"), metric) == 3.6
    )
    _check_view(page, loaded, "330000", metric, count=3)
    _open(page, f"{base}/?district=330100&period=month&date=2026-11-27&as_of=2026-11-27&count=3")
    tile = page.locator("#summary .tile[data-metric='worker_survey.safety_climate_index'] .value")
    assert tile.inner_text() == "已隐藏" and "suppressed" in (tile.get_attribute("class") or "")
    survey = page.evaluate(READ_CHART, "chart-trend-survey")
    assert survey["series"][metric] == ["已隐藏", "已隐藏", "已隐藏"]  # never drawn as 0
    screenshot(page, "dashboard-zh-hangzhou-suppressed")
    assert not errors, errors


def test_the_dashboard_fits_a_phone(phone: Any, loaded: System, serve: Any) -> None:
    base = serve(loaded.reports.application)
    page = phone(locale="zh-CN").new_page()
    page.goto(f"{base}/signin")
    page.fill("input[name=token]", loaded.access.issue("phone-ministry", ["ministry"]).token)
    page.click("button")
    _open(page, f"{base}/?district=330784&period=month&date=2026-11-27&as_of=2026-11-27&count=6")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360 + 1  # nothing wider than the phone
    _check_view(page, loaded, "330784", "inspections", count=6)
    screenshot(page, "dashboard-phone-yongkang")
