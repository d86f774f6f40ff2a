"""The aggregator's "today" (default period, ``as_of``, rollup snapshots) is China's day on any host.

At 17:00 UTC on 28 November it is already 01:00 on 29 November in Shanghai.  A hazard whose deadline was the
28th is overdue there; on a UTC host the old ``date.today()`` still said the 28th and called it on time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from services.aggregator.adapters.tables import rollup_changes
from services.aggregator.service_layer.rollup_topic import publish_pending
from services.eventlog.envelope import Event
from tests.builders import inspection
from tests.clocks import on_host
from tests.conftest import System, build_system, migrated, sqlite_settings

EVENING_UTC = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
HOSTS = ["UTC", "America/Los_Angeles"]  # both still on the 28th at that instant


@pytest.fixture
def overdue_at_midnight(tmp_path: Path) -> Iterator[System]:
    """Yongkang: one inspection (20 Nov) with a major hazard due 28 Nov, not rectified; consumed."""
    s = build_system(migrated(sqlite_settings(tmp_path)))
    body = inspection(failed=[("DUST-01", "dust_explosion", "major", "2026-11-28")])
    assert s.post(body).status_code == 201
    s.sync()
    yield s
    s.consumer.close()


@pytest.mark.parametrize("host", HOSTS)
def test_the_default_as_of_and_period_are_the_day_in_china(overdue_at_midnight: System, host: str) -> None:
    s = overdue_at_midnight
    with on_host(host, EVENING_UTC):
        month = s.reports.get("/api/v1/reports/districts/330784", query_string={"period": "month"}).get_json()
        day = s.reports.get("/api/v1/reports/districts/330784", query_string={"period": "day"}).get_json()
        side = s.reports.get("/api/v1/reports/districts", query_string={"period": "day"}).get_json()
        page = s.reports.get("/")
    assert month["as_of"] == "2026-11-29"
    assert month["period"]["key"] == "2026-11"
    assert month["figures"]["hazards"]["found"] == 1
    assert month["figures"]["hazards"]["overdue"] == 1  # past its deadline of the 28th, as of China's 29th
    assert (day["period"]["start"], day["as_of"]) == ("2026-11-29", "2026-11-29")
    assert {r["period"]["start"] for r in side["reports"]} == {"2026-11-29"}
    assert page.status_code == 200 and b'value="2026-11-29"' in page.data  # the dashboard's date picker


@pytest.mark.parametrize("host", HOSTS)
def test_an_explicit_as_of_still_wins(overdue_at_midnight: System, host: str) -> None:
    with on_host(host, EVENING_UTC):
        rep = overdue_at_midnight.reports.get(
            "/api/v1/reports/districts/330784", query_string={"period": "month", "as_of": "2026-11-28"}
        ).get_json()
    assert rep["as_of"] == "2026-11-28"
    assert rep["figures"]["hazards"]["overdue"] == 0  # due that very day: not yet overdue


class Collect:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, events: list[Event], topic: str | None = None) -> None:
        self.events.extend(events)


@pytest.mark.parametrize("host", HOSTS)
def test_rollup_snapshots_are_taken_as_of_the_day_in_china(overdue_at_midnight: System, host: str) -> None:
    # The embedded default tracks no rollup changes (no topic to publish to); mark one as the Kafka setup does.
    with overdue_at_midnight.aggregator.engine.begin() as conn:
        conn.execute(
            insert(rollup_changes).values(
                district="330784",
                period_kind="month",
                period_key="2026-11",
                period_start=date(2026, 11, 1),
                version=1,
            )
        )
    sender = Collect()
    with on_host(host, EVENING_UTC):
        assert publish_pending(overdue_at_midnight.aggregator.engine, sender, "rollups") == 1
    month: list[dict[str, Any]] = [e.data for e in sender.events if e.key == "330784:month:2026-11"]
    assert len(month) == 1 and month[0]["as_of"] == "2026-11-29"
    assert sender.events[0].id.endswith(":2026-11-29")
    assert month[0]["figures"]["hazards"]["overdue"] == 1
