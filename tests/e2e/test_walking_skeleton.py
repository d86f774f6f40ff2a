"""A submission travels the whole way: HTTP -> store + outbox -> log -> aggregator -> district report.

Run twice: embedded (SQLite + SQL event log) and real (PostgreSQL + Apache Kafka).
"""

from __future__ import annotations

from datetime import date

from services.aggregator.service_layer.verify import verify
from tests.builders import inspection
from tests.conftest import System


def test_district_counts_follow_the_hierarchy(system: System) -> None:
    posted = [
        inspection(district="330102", enterprise=1),  # Hangzhou, Shangcheng
        inspection(district="330106", enterprise=2),  # Hangzhou, Xihu
        inspection(district="330700", enterprise=3),  # Jinhua itself
        inspection(district="330784", enterprise=4),  # Yongkang, inside Jinhua
        inspection(district="330784", enterprise=5),
        inspection(district="330784", enterprise=5, day=date(2026, 11, 21)),  # same enterprise, second visit
    ]
    for body in posted:
        resp = system.post(body)
        assert resp.status_code == 201, resp.get_json()
    # a retry of the first one is recognised and not counted again
    assert system.post(posted[0]).status_code == 200

    system.sync()

    hangzhou = system.report("330100")["figures"]
    jinhua = system.report("330700")["figures"]
    yongkang = system.report("330784")["figures"]
    zhejiang = system.report("330000")["figures"]
    assert (hangzhou["inspections"], jinhua["inspections"], yongkang["inspections"]) == (2, 4, 3)
    assert zhejiang["inspections"] == 6
    assert yongkang["enterprises_inspected"] == 2
    assert jinhua["enterprises_inspected"] == 3
    assert verify(system.aggregator.engine).ok
