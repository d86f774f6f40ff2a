"""The built-in SQL event log on PostgreSQL: a reader polling while many writers commit never skips one.

Positions come from a sequence, so transaction B can commit position 8 before A commits position 7; a reader
that saw 8 would pass 7 for ever.  The outbox serialises its inserts when it is read as a log (an advisory
lock held to commit), and this test hammers exactly that window.
"""

from __future__ import annotations

import threading

import pytest

from services.common.config import Settings
from tests.builders import inspection
from tests.conftest import build_system, migrated, unique
from tests.servers import PostgresServer


@pytest.mark.postgres
def test_a_reader_polling_during_concurrent_commits_misses_nothing(postgres_server: PostgresServer) -> None:
    name = unique("sqllog")
    intake = postgres_server.fresh_database(f"{name}_i")
    settings = migrated(
        Settings(
            intake_database_url=intake,
            aggregator_database_url=postgres_server.fresh_database(f"{name}_a"),
            event_log_url=intake,
        )
    )
    system = build_system(settings)
    app = system.client.application
    done = threading.Event()
    statuses: list[int] = []

    def writer(first: int) -> None:
        with app.test_client() as c:
            for i in range(first, first + 40):
                statuses.append(c.post("/api/v1/submissions", json=inspection(enterprise=i)).status_code)

    def reader() -> None:
        while not done.is_set():
            system.consumer.step(timeout=0.01)

    writers = [threading.Thread(target=writer, args=(k * 1000 + 1,)) for k in range(6)]
    poller = threading.Thread(target=reader)
    poller.start()
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    poller.join()
    system.sync()
    assert statuses == [201] * 240
    assert system.report("330784")["figures"]["inspections"] == 240
    assert system.consumer.stats.applied == 240
