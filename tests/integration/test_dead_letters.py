"""Events the aggregator cannot apply are set aside, recorded and (with Kafka) copied to the dead-letter
topic; the events around them are applied as usual and the consumer does not stall."""

from __future__ import annotations

import uuid

import pytest
from kafka import KafkaProducer
from sqlalchemy import func, select

from services.aggregator.adapters.tables import dead_letters
from services.eventlog import outbox
from services.eventlog.envelope import Event
from services.eventlog.kafka import client_security
from tests.builders import inspection
from tests.conftest import System, build_system, migrated, real_settings
from tests.topics import read_topic


def _dead_letter_count(system: System) -> int:
    with system.aggregator.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(dead_letters)).scalar_one())


def _unknown_type_event() -> Event:
    return Event.new(
        type="org.ilo.score.something.unheard.v9",
        source="/elsewhere",
        subject="x",
        key="330784",
        data={"hello": "world"},
    )


def test_an_unusable_event_is_dead_lettered_and_the_rest_applied(system: System) -> None:
    assert system.post(inspection(district="330784", enterprise=1)).status_code == 201
    if system.relay is None:  # embedded: the outbox is the log
        with system.intake.engine.begin() as conn:
            outbox.append(conn, [_unknown_type_event()])
    else:
        system.relay.drain()
        producer = KafkaProducer(
            bootstrap_servers=system.settings.kafka_bootstrap_servers, **client_security(system.settings)
        )
        e = _unknown_type_event()
        producer.send(
            system.settings.topic, key=e.kafka_key(), value=e.kafka_value(), headers=e.kafka_headers()
        )
        # a record that breaks the envelope contract altogether: no CloudEvents headers, not JSON
        producer.send(system.settings.topic, key=b"330784", value=b"\xff not json")
        producer.flush()
        producer.close()
    assert system.post(inspection(district="330784", enterprise=2)).status_code == 201
    system.sync()

    assert system.report("330784")["figures"]["inspections"] == 2
    expected = 1 if system.relay is None else 2
    assert _dead_letter_count(system) == expected
    assert system.consumer.stats.dead_letters == expected


@pytest.mark.kafka
@pytest.mark.postgres
def test_dead_letters_are_copied_to_the_dead_letter_topic_with_the_reason(
    request: pytest.FixtureRequest,
) -> None:
    system = build_system(migrated(real_settings(request)))
    assert system.relay is not None
    system.post(inspection())
    system.relay.drain()
    producer = KafkaProducer(
        bootstrap_servers=system.settings.kafka_bootstrap_servers, **client_security(system.settings)
    )
    producer.send(
        system.settings.topic, key=b"k", value=b"{}", headers=[("ce_id", uuid.uuid4().hex.encode())]
    )
    producer.flush()
    producer.close()
    system.sync()
    records = read_topic(system.settings.kafka_bootstrap_servers, system.settings.dead_letter_topic)
    system.consumer.close()
    assert len(records) == 1
    headers = dict(records[0].headers)
    assert b"missing CloudEvents headers" in headers["score_dlq_reason"]
    assert records[0].value == b"{}"
