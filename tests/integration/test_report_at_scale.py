"""Reports over a million stored submissions: the district report API, the dashboard page and the dashboard's
chart JSON answer with the right figures at that size (the count of inspections from the template's events by
the domain's own rule; every figure of the view the batched read model's, checked against the reports one by
one in tests/integration/test_dashboard_batch.py).

How fast they answer is measured by the benchmark, not here ("Speed is measured in benchmarks, not in timed
tests"): ``bench/run.py --only reports`` seeds the same million and prints the district report's, the
dashboard view's and the dashboard page's p95 next to their targets.

The million is seeded set-based (bench/seed_reports.py: a template applied by the real apply step, copied in
SQL); the first test proves on a small seed that the copies are exactly what applying their events would
have written, so the database the figures are read from is one the aggregator could have built.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select, update

from bench.aggregator_bench import make_events
from bench.seed_reports import apply_events, copy_events, seed, template_events
from services.access import bootstrap as access_bootstrap
from services.aggregator.adapters import tables
from services.aggregator.bootstrap import bootstrap as agg_bootstrap
from services.aggregator.domain.facts import fact_from_submission
from services.aggregator.domain.kpis import contributions
from services.aggregator.entrypoints.app import create_app as reports_app
from services.aggregator.service_layer.verify import verify
from services.common.config import Settings
from services.common.db import make_engine
from services.common.migrate import upgrade
from services.eventlog.envelope import Event
from tests.conftest import UNLIMITED, authorize, operator_token, unique
from tests.servers import PostgresServer

pytestmark = [pytest.mark.postgres]

SUBMISSIONS = 1_000_000
TEMPLATE = 10_000
QUARTER = ("2026-10-01", "2026-12-31")
QUERY = {"period": "quarter", "date": "2026-11-20", "as_of": "2026-11-27"}


#: columns stamped with the time of writing: processed_events.claimed_at, positions.updated_at
WALL_CLOCK = {"claimed_at", "updated_at"}


def _migrated(pg: PostgresServer, name: str) -> Engine:
    engine = make_engine(pg.fresh_database(unique(name)))
    upgrade("aggregator", engine)
    return engine


def _rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the aggregator's tables, sorted; of rollup_changes only which rollups are marked (its
    version counts batches, and the seed is applied in other batches than the events it stands for); without
    the wall-clock stamps of when a claim was made or a position last moved (they say when, not what)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in (
            tables.facts,
            tables.versions,
            tables.daily,
            tables.daily_members,
            tables.hazards,
            tables.hazard_rectifications,
            tables.processed_events,
            tables.positions,
            tables.dead_letters,
        ):
            columns = [c for c in table.c if c.name not in WALL_CLOCK]
            out[table.name] = sorted(tuple(r) for r in conn.execute(select(*columns)))
        c = tables.rollup_changes.c
        out["rollup_changes"] = sorted(
            tuple(r) for r in conn.execute(select(c.district, c.period_kind, c.period_key, c.period_start))
        )
    return out


def test_the_seeder_writes_what_applying_the_events_would(postgres_server: PostgresServer) -> None:
    template = template_events(make_events(300))
    seeded = _migrated(postgres_server, "seeded")
    applied = _migrated(postgres_server, "applied")

    done = seed(seeded, 900, 300, events=template)
    apply_events(applied, [e for j in range(3) for e in copy_events(template, j)])

    assert done.copies == 3
    got, want = _rows(seeded), _rows(applied)
    assert len(want["facts"]) == 900 and len(want["processed_events"]) == 900
    assert want["hazards"] and want["hazard_rectifications"] and want["daily_members"]
    for name in want:
        assert got[name] == want[name], f"{name}: the seed differs from what the apply step wrote"
    assert verify(seeded).ok


def test_verify_checks_the_rectification_state_the_reports_count_from(
    postgres_server: PostgresServer,
) -> None:
    engine = _migrated(postgres_server, "state")
    apply_events(engine, template_events(make_events(300)))
    assert verify(engine).ok
    with engine.begin() as conn:
        changed = conn.execute(
            update(tables.hazards)
            .where(tables.hazards.c.rectified_on.is_not(None))
            .values(rectified_on=None, rectified_on_time=False)
        ).rowcount
    assert changed > 0
    report = verify(engine)
    assert {d.table for d in report.differences} == {"hazards"} and len(report.differences) == changed


def _inspections_in_quarter(template: list[Event]) -> int:
    """The quarter's inspections in the whole province, from the template's events by the domain's own rule."""
    start, end = (date.fromisoformat(d) for d in QUARTER)
    total = 0
    for e in template:
        for (_d, day, _i, metric), v in contributions(fact_from_submission(e.subject, e.data)).items():
            if metric == "inspections" and start <= day <= end:
                total += v
    return total * (SUBMISSIONS // TEMPLATE)


@pytest.fixture(scope="module")
def million(postgres_server: PostgresServer) -> Iterator[tuple[FlaskClient, int]]:
    """A reports app over an aggregator database holding 1,000,000 submissions (all in Zhejiang 330000)."""
    engine = _migrated(postgres_server, "million")
    template = template_events(make_events(TEMPLATE))
    done = seed(engine, SUBMISSIONS, TEMPLATE, events=template)
    print(f"\nseeded {done.submissions:,} submissions in {done.seconds:.1f} s")
    url = engine.url.render_as_string(hide_password=False)
    settings = Settings(intake_database_url=url, aggregator_database_url=url, **UNLIMITED)
    upgrade("access", make_engine(settings.access_url))
    access = access_bootstrap(settings)
    app = reports_app(settings, agg_bootstrap(settings), access)
    app.config["TESTING"] = True
    yield authorize(app, operator_token(access)).test_client(), _inspections_in_quarter(template)
    engine.dispose()


def _get(client: FlaskClient, url: str, query: dict[str, str]) -> Any:
    resp = client.get(url, query_string=query)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return resp


def test_the_district_report_over_a_million_submissions_counts_every_inspection(
    million: tuple[FlaskClient, int],
) -> None:
    client, inspections = million
    figures = _get(client, "/api/v1/reports/districts/330000", QUERY).get_json()["figures"]
    assert figures["inspections"] == inspections > 0
    assert figures["hazards"]["found"] > 0 and figures["hazards"]["overdue"] > 0


def test_the_dashboard_page_over_a_million_submissions_shows_the_province(
    million: tuple[FlaskClient, int],
) -> None:
    client, inspections = million
    html = _get(client, "/", QUERY).get_data(as_text=True)
    assert "330000" in html and str(inspections) in html


def test_the_dashboard_view_its_charts_draw_over_a_million_submissions_holds_the_reports_figures(
    million: tuple[FlaskClient, int],
) -> None:
    """What the page's charts fetch after the frame: the comparison, drill-down, industries, trend and hazard
    picture of one division in one JSON (every figure a district report's)."""
    client, inspections = million
    view = _get(client, "/api/v1/dashboard/330000", QUERY).get_json()
    report = _get(client, "/api/v1/reports/districts/330000", QUERY).get_json()
    assert view["summary"]["figures"] == report["figures"]
    assert view["summary"]["figures"]["inspections"] == inspections
    assert view["trend"][-1]["figures"] == report["figures"]
    assert sum(r["figures"]["inspections"] for r in view["children"]) == inspections
    hz = view["hazards"]
    assert sum(o["count"] for o in hz["open"]) == report["figures"]["hazards"]["open"] > 0
    assert sum(b["count"] for b in hz["overdue_by_age"]) == report["figures"]["hazards"]["overdue"] > 0
