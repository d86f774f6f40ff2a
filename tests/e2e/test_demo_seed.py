"""``score demo seed`` end to end: the seeder speaks HTTP to a real intake server (werkzeug in a thread), the
relay and the aggregator carry what it sent into the reports, and the report API shows exactly the figures the
plan says it must; a rerun is recognised as retries and changes nothing.

Run twice: embedded (SQLite + SQL event log) and real (PostgreSQL + Apache Kafka).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from services.common.codes import covered
from services.demo.cli import local_token
from services.demo.client import IntakeClient
from services.demo.plan import SURVEY_THRESHOLD, Plan
from services.demo.seed import SeedError, resolve_plan, send
from services.intake.entrypoints.app import create_app as intake_app
from tests.builders import NOW
from tests.conftest import System
from tests.servers import free_port

ANCHOR = NOW.date()
DISTRICTS = ("330000", "330100", "330700", "330784", "330782")


@pytest.fixture
def intake_url(system: System) -> Iterator[str]:
    """The system's intake (its clock fixed at NOW) served over real HTTP on a free port."""
    app = intake_app(system.settings, system.intake, system.access)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def _monthly(system: System, code: str) -> list[dict[str, Any]]:
    """The 13 calendar months the demo's year touches, as the report API gives them."""
    resp = system.reports.get(
        f"/api/v1/reports/districts/{code}/trend",
        query_string={
            "period": "month",
            "count": 13,
            "date": ANCHOR.isoformat(),
            "as_of": ANCHOR.isoformat(),
        },
    )
    assert resp.status_code == 200, resp.get_json()
    reports: list[dict[str, Any]] = resp.get_json()["reports"]
    return reports


def _expected(plan: Plan, code: str) -> dict[str, int]:
    area = set(covered(code))
    e = plan.expected

    def total(counter: Any) -> int:
        return sum(n for d, n in counter.items() if d in area)

    return {
        "inspections": total(e.inspections),
        "found": total(e.hazards_found),
        "major": total(e.hazards_major),
        "rectified": total(e.rectified),
        "on_time": total(e.rectified_on_time),
        "survey_responses": e.published_responses(area),
    }


def _shown(months: list[dict[str, Any]]) -> dict[str, int]:
    f = [m["figures"] for m in months]
    return {
        "inspections": sum(x["inspections"] for x in f),
        "found": sum(x["hazards"]["found"] for x in f),
        "major": sum(x["hazards"]["found_major"] for x in f),
        "rectified": sum(x["hazards"]["rectified"] for x in f),
        "on_time": sum(x["hazards"]["rectified_on_time"] for x in f),
        "survey_responses": sum(
            x["worker_survey"]["responses"] for x in f if x["worker_survey"]["responses"] != "suppressed"
        ),
    }


def test_a_small_seed_shows_its_figures_in_the_reports_and_a_rerun_changes_nothing(
    system: System, intake_url: str
) -> None:
    with local_token(system.settings) as token:
        client = IntakeClient(intake_url, token)
        plan, resumed = resolve_plan(client, 1, "small", ANCHOR)
        assert not resumed
        ticks: list[int] = []
        first = send(client, plan, progress=ticks.append)
        assert first.ok, first.refused[:5]
        assert sum(ticks) == plan.submissions + len(plan.reviews)
        assert sum(first.created.values()) == plan.submissions + len(plan.reviews)
        assert first.created["correction"] == len(plan.corrections) > 0
        assert first.created["review.rejected"] > 0
        system.sync()
        applied = system.consumer.stats.applied
        before = {code: _monthly(system, code) for code in DISTRICTS}

        for code in DISTRICTS:
            assert _shown(before[code]) == _expected(plan, code), code
        zhejiang = _shown(before["330000"])
        assert zhejiang["inspections"] == plan.counts()["inspections"] - plan.counts()["rejections"]
        assert 0 < zhejiang["survey_responses"] < plan.counts()["surveys"]  # small cells are left out
        # open hazards past their deadline on the anchor day
        assert sum(m["figures"]["hazards"]["overdue"] for m in before["330000"]) > 0

        # a county-month cell with 1 to 4 respondents reads "suppressed", never a number
        (county, month), _n = next(
            (cell, n) for cell, n in sorted(plan.expected.survey_cells.items()) if n < SURVEY_THRESHOLD
        )
        cell = system.reports.get(
            f"/api/v1/reports/districts/{county}",
            query_string={"period": "month", "date": f"{month}-01", "as_of": ANCHOR.isoformat()},
        ).get_json()
        assert cell["figures"]["worker_survey"]["responses"] == "suppressed"

        # the same seed again, on a later day (no --anchor): the first run's anchor is found, every item is
        # a retry the intake recognises, nothing new reaches the log or the reports
        again_plan, resumed = resolve_plan(client, 1, "small", today=ANCHOR + timedelta(days=40))
        assert (again_plan.anchor, resumed) == (ANCHOR, True)
        again = send(client, again_plan)
        assert again.ok, again.refused[:5]
        assert sum(again.created.values()) == 0
        assert sum(again.replayed.values()) == plan.submissions + len(plan.reviews)
        system.sync()
        assert system.consumer.stats.applied == applied  # no event was written for a retry
        assert {code: _monthly(system, code) for code in DISTRICTS} == before

        # another anchor named explicitly would be other content under the same ids: refused before sending
        with pytest.raises(SeedError, match="--anchor"):
            resolve_plan(client, 1, "small", ANCHOR - timedelta(days=3))


class _Lines:
    """A process's output, read in a thread so that the test can wait for a line with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert proc.stdout is not None
        threading.Thread(target=self._pump, args=(proc.stdout,), daemon=True).start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r} within {timeout} s:\n{''.join(self.seen[-40:])}")


def _score_run(var: Path) -> tuple[subprocess.Popen[str], _Lines, int, int]:
    intake, reports = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCORE_")}
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "score"),
            "run",
            "--demo",
            "--intake-port",
            str(intake),
            "--reports-port",
            str(reports),
        ],
        env={**env, "SCORE_VAR_DIR": str(var), "SCORE_LOG_FORMAT": "json"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, _Lines(proc), intake, reports


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)  # score run stops on Ctrl-C
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def test_score_run_demo_seeds_the_first_start_only(tmp_path: Path) -> None:
    """`make run` (score run --demo): the first start seeds the demo in the background and the dashboard's
    reports show it; a second start does not seed again and says how to."""
    proc, out, _intake, reports = _score_run(tmp_path)
    try:
        ministry = out.wait_for("demo ministry", 120).split()[-1]
        # the credentials (shown this once) open the output, not Alembic's steps (`score migrate` logs those)
        assert not [line for line in out.seen if "alembic" in line], out.seen
        out.wait_for("demo: sending a year of data", 60)
        summary = out.wait_for("intake: ", 120)
        assert " 0 refused" in summary and "0 new" not in summary
        url = f"http://127.0.0.1:{reports}/api/v1/reports/districts/330000?period=year"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {ministry}"})
        deadline = time.monotonic() + 60
        inspections = 0
        while time.monotonic() < deadline and not inspections:  # the consumer catches up in the background
            with urllib.request.urlopen(request, timeout=10) as resp:
                inspections = json.load(resp)["figures"]["inspections"]
            if not inspections:
                time.sleep(0.2)
        assert inspections > 0
    finally:
        _stop(proc)
    again, out, _i, _r = _score_run(tmp_path)
    try:
        out.wait_for("demo data: `score demo seed`", 120)
        out.wait_for("Ctrl-C stops", 30)
    finally:
        _stop(again)
    assert not any("demo: sending" in line for line in out.seen)
