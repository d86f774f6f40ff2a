"""The browser fixtures themselves: Chromium starts, renders Chinese at a phone's width, and reads a served page."""

from __future__ import annotations

from typing import Any

from flask import Flask

from tests.browser.conftest import screenshot


def test_chromium_renders_a_served_page_at_phone_width(phone: Any, serve: Any) -> None:
    app = Flask(__name__)

    @app.get("/")
    def index() -> str:
        return '<!doctype html><meta charset="utf-8"><h1 id="t">安全生产</h1>'

    page = phone().new_page()
    page.goto(serve(app))
    assert page.text_content("#t") == "安全生产"
    assert page.evaluate("window.innerWidth") == 360
    assert page.evaluate("window.isSecureContext") is True  # service workers will be allowed
    assert screenshot(page, "smoke").stat().st_size > 0
