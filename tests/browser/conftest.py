"""Browser tests: Debian's Chromium (``make browser``) driven by Playwright, at a phone's screen size.

Playwright is pointed at the system browser; ``playwright install`` is never run (its download host is not
reachable here).  Without a browser these tests skip, except under ``CI=true``, where that is an error.
Screenshots go to ``artefacts/screenshots/`` (kept by CI as artefacts, ignored by git).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.servers import on_ci

ARTEFACTS = Path(__file__).resolve().parents[2] / "artefacts" / "screenshots"
PHONE = {"width": 360, "height": 740}
BUILD = Path(__file__).resolve().parents[2] / "services"


def _chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if on_ci():
            raise RuntimeError("CI=true and no chromium here: `make browser` installs Debian's")
        pytest.skip("no chromium here (make browser); CI=true makes this an error")
    return path


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the session."""
    path = _chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=["--no-sandbox"])  # CI runs as root
        yield browser
        browser.close()


@pytest.fixture
def phone(chromium: Any) -> Iterator[Callable[..., Any]]:
    """``phone(locale="zh-CN")`` opens a fresh browser context the size of a phone; closed after the test."""
    contexts: list[Any] = []

    def open_context(locale: str = "zh-CN", **kwargs: Any) -> Any:
        ctx = chromium.new_context(viewport=PHONE, locale=locale, **kwargs)
        ctx.set_default_timeout(30_000)  # a busy 2-core CI machine: wait on conditions, generously
        contexts.append(ctx)
        return ctx

    yield open_context
    for ctx in contexts:
        ctx.close()


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as ``artefacts/screenshots/<name>.png`` and return its path."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def serve() -> Iterator[Callable[[Any], str]]:
    """``serve(wsgi_app)`` serves an app on a free loopback port in a thread and returns its base URL.

    ``localhost`` (not 127.0.0.1) so the page is a secure context: service workers need one.
    """
    servers: list[Any] = []

    def start(app: Any) -> str:
        server = make_server("localhost", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://localhost:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()


@pytest.fixture(scope="session", autouse=True)
def _built() -> None:
    """The bundles must exist (``make web``); a page without its script would fail in confusing ways."""
    missing = [
        s
        for s in ("intake", "aggregator")
        if (BUILD / s / "web").is_dir() and not (BUILD / s / "entrypoints/static/build").is_dir()
    ]
    if missing:
        pytest.fail(f"front-end bundles missing for {missing}: run `make web`")
