"""Browser tests: Debian's Chromium (``make browser``) driven by Playwright, at a phone's screen size.

Playwright is pointed at the system browser; ``playwright install`` is never run (its download host is not
reachable here).  Without a browser these tests skip, except under ``CI=true``, where that is an error.
Screenshots go to ``artefacts/screenshots/`` (kept by CI as artefacts, ignored by git).
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
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
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)  # assertions wait on conditions, generously on a busy CI machine

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
    # every service with browser sources (services/<service>/web/) must have its bundles
    sources = [p.parent.name for p in BUILD.glob("*/web") if p.is_dir()]
    missing = [s for s in sources if not (BUILD / s / "entrypoints/static/build").is_dir()]
    if missing:
        pytest.fail(f"front-end bundles missing for {missing}: run `make web`")


# -- the intake with its field app, on the SQLite embedded settings ------------------------------------------


@dataclass
class FieldSite:
    """One intake (its own SQLite files) served on a live port: its app, its credentials, its tables."""

    settings: Any
    intake: Any
    access: Any
    app: Any
    url: str

    def device(self, name: str = "yk-phone-1", district: str = "330784") -> str:
        """A field phone's token (``score tokens create NAME --role collector --kind device``)."""
        return str(
            self.access.issue(name, ["collector"], [district], kind="device", created_by="tests").token
        )

    def link(self, district: str = "330784", campaign: str = "yk-2026q4") -> str:
        """A public survey link's token (``score links create``)."""
        name = f"survey-{campaign}"
        return str(
            self.access.issue(
                name, ["survey"], [district], kind="link", campaign=campaign, created_by="t"
            ).token
        )

    def post(self, body: Any, token: str, **kw: Any) -> Any:
        """What an API client does: one POST with its bearer token."""
        return self.app.test_client().post(
            "/api/v1/submissions", json=body, headers={"Authorization": f"Bearer {token}"}, **kw
        )

    def submissions(self) -> list[dict[str, Any]]:
        with self.intake.engine.connect() as conn:
            return [dict(r) for r in conn.execute(text("SELECT * FROM submissions ORDER BY id")).mappings()]

    def outbox(self) -> list[dict[str, Any]]:
        with self.intake.engine.connect() as conn:
            return [dict(r) for r in conn.execute(text("SELECT * FROM outbox ORDER BY position")).mappings()]

    def stored(self, submission_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The stored row of a submission and its outbox events, without what only says *when* (received_at,
        the event's time, its log position and publication): what an equal request must reproduce."""
        rows = [r for r in self.submissions() if r["id"] == submission_id]
        assert len(rows) == 1, f"{submission_id} stored {len(rows)} times"
        row = {k: v for k, v in rows[0].items() if k != "received_at"}
        events = []
        for e in self.outbox():
            if e["subject"] != submission_id:
                continue
            data = json.loads(e["data"])
            data.pop("received_at", None)
            events.append(
                {
                    **{k: v for k, v in e.items() if k not in ("position", "time", "published_at")},
                    "data": data,
                }
            )
        return row, events


@pytest.fixture
def field_site(tmp_path: Path, serve: Callable[[Any], str]) -> Callable[[str], FieldSite]:
    """``field_site("a")``: a fresh intake (SQLite, the embedded default) with the field app, live on a port.

    The intake runs on the real clock: the phone's "today" is the server's.
    """
    from services.access import bootstrap as access_bootstrap
    from services.intake.bootstrap import bootstrap as intake_bootstrap
    from services.intake.entrypoints.app import create_app
    from tests.conftest import migrated, sqlite_settings

    def make(name: str) -> FieldSite:
        where = tmp_path / name
        where.mkdir()
        settings = migrated(sqlite_settings(where))
        access = access_bootstrap(settings)
        intake = intake_bootstrap(settings)
        app = create_app(settings, intake, access)
        return FieldSite(settings, intake, access, app, serve(app))

    return make


def wait_until(condition: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it is truthy (returned) or the deadline passes (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)
