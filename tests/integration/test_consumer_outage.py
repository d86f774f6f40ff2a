"""A database outage while the aggregator holds a fetched batch delays that batch; it never skips it.

The regression this guards: after a failed batch the consumer used to rewind by reading its stored positions
from the database that had just failed, so the seek never happened, the next poll went on past the batch and
the position jumped over it.  Real servers: PostgreSQL is stopped right after a poll returned a batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from services.aggregator.service_layer.runner import Consumer
from services.aggregator.service_layer.verify import reconcile, verify
from services.common.config import Settings
from services.eventlog.source import Delivery
from tests.builders import inspection, survey
from tests.conftest import build_system, migrated, real_settings
from tests.servers import PostgresServer, skip_unless_controllable

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _outage_after_next_batch(consumer: Consumer, server: PostgresServer) -> Callable[[], None]:
    """Make the consumer's next non-empty poll stop PostgreSQL before the batch is applied; returns undo."""
    original = consumer.source.poll

    def poll(max_records: int = 500, timeout: float = 1.0) -> list[Delivery]:
        deliveries = original(max_records, timeout)
        if deliveries:
            consumer.source.poll = original  # type: ignore[method-assign]
            server.stop()
        return deliveries

    consumer.source.poll = poll  # type: ignore[method-assign]
    return lambda: setattr(consumer.source, "poll", original)


@pytest.mark.parametrize("log", ["kafka", "sql"])
def test_a_batch_held_through_a_database_outage_is_applied_after_it(
    request: pytest.FixtureRequest, postgres_server: PostgresServer, log: str
) -> None:
    skip_unless_controllable(postgres_server)
    settings: Settings = real_settings(request, partitions=3)
    if log == "sql":  # the embedded log's shape, on PostgreSQL: the aggregator reads the intake's outbox
        settings = dataclasses.replace(settings, kafka_bootstrap_servers="")
    system = build_system(migrated(settings))
    try:
        bodies: list[dict[str, Any]] = []
        for i in range(40):
            bodies.append(inspection(district="330784", enterprise=i + 1))
            bodies.append(survey(district="330784", enterprise=i + 1))
        resp = system.client.post("/api/v1/submissions/batch", json={"submissions": bodies})
        assert resp.status_code == 207 and resp.get_json()["accepted"] == len(bodies)
        if system.relay is not None:
            assert system.relay.drain(60) == len(bodies)

        consumer = system.consumer
        consumer.batch_size = 15
        while consumer.stats.applied == 0:  # a first batch applied, so the outage hits a later one
            consumer.step()
        undo = _outage_after_next_batch(consumer, postgres_server)
        try:
            with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises for a server that is gone
                for _ in range(100):
                    consumer.step()
        finally:
            undo()
            postgres_server.restart()
        consumer.run_until_caught_up(120)

        assert consumer.stats.applied == len(bodies), consumer.stats
        assert verify(system.aggregator.engine).ok
        reader = system.aggregator.log_reader()
        try:
            accounts = reconcile(system.aggregator.engine, system.aggregator.source_name, reader.scan())
        finally:
            reader.close()
        assert accounts.gaps == 0 and accounts.pending == 0 and accounts.ok, accounts
        assert sum(a.applied for a in accounts.partitions.values()) == len(bodies)
        figures = system.report("330784", date="2026-11-20")["figures"]
        assert figures["inspections"] == 40
    finally:
        system.consumer.close()
        if system.relay is not None:
            system.relay._reset_publisher()
