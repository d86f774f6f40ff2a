"""The intake's front door and its API docs in a phone's browser: the way to the inspector app, the survey
links explained, and Swagger UI rendering the intake's own OpenAPI document, all under the strict CSP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import screenshot
from tests.conftest import System, build_system, migrated, sqlite_settings


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    s = build_system(migrated(sqlite_settings(tmp_path)))
    yield s
    s.consumer.close()


def _watch(page: Any) -> list[str]:
    """Every console error and failed request of the page (a CSP refusal shows up as one)."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("requestfailed", lambda r: problems.append(f"failed {r.url}"))
    return problems


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_the_front_door_leads_to_the_app_the_docs_and_explains_survey_links(
    system: System, phone: Any, serve: Any, locale: str
) -> None:
    base = serve(system.client.application)
    page = phone(locale=locale).new_page()
    problems = _watch(page)
    page.goto(base + "/")
    assert page.get_by_role("heading", name="检查员应用 Inspector app").is_visible()
    app_link = page.get_by_role("link", name="打开检查员应用")
    assert app_link.get_attribute("href") == "/app/"
    box = app_link.bounding_box()
    assert box is not None and box["height"] >= 44 and box["width"] <= 360  # a thumb's target, on screen
    assert f"{base}/survey#st=" in page.text_content("body")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # nothing wider than the phone
    screenshot(page, f"front-door-{locale}")
    page.get_by_role("link", name="接口文档").click()
    page.wait_for_url("**/api/v1/docs")
    assert problems == [], problems


def test_the_api_docs_render_every_operation_from_the_local_swagger_ui(
    system: System, phone: Any, serve: Any
) -> None:
    base = serve(system.client.application)
    page = phone().new_page()
    problems = _watch(page)
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(base) else None)
    page.goto(base + "/api/v1/docs")
    post = page.locator(".opblock-post", has=page.locator("[data-path='/api/v1/submissions']"))
    post.first.wait_for()
    spec = system.client.get("/api/v1/openapi.json").get_json()
    operations = sum(len(ops) for ops in spec["paths"].values())
    page.locator(".opblock").nth(operations - 1).wait_for()
    assert page.locator(".opblock").count() == operations
    for path in ("/api/v1/attachments/{attachment_id}", "/api/v1/hazards", "/api/v1/submissions/batch"):
        assert page.locator(f"[data-path='{path}']").count() >= 1, path
    screenshot(page, "api-docs")
    # the form examples are offered as named request examples
    post.first.locator(".opblock-summary").click()
    chooser = post.first.locator("select").filter(has_text="factory_inspection")
    chooser.first.wait_for()
    names = chooser.first.locator("option").all_text_contents()
    assert any("yongkang security doors" in n for n in names), names
    screenshot(page, "api-docs-submission-examples")
    assert external == [], external  # no CDN, nothing fetched from another host
    assert problems == [], problems
