"""Events the aggregator cannot apply are set aside, recorded and (with Kafka) copied to the dead-letter
topic; the events around them are applied as usual and the consumer does not stall."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Sequence
from typing import Any

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


def _publish(system: System, events: list[Event], raw: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """Put ``events`` on the log as another producer would: into the outbox when it is the log, else straight
    onto the topic (after the relay has published what the intake stored), with ``raw`` (key, value) records
    that carry no envelope at all."""
    if system.relay is None:
        with system.intake.engine.begin() as conn:
            outbox.append(conn, events)
        return
    system.relay.drain()
    producer = KafkaProducer(
        bootstrap_servers=system.settings.kafka_bootstrap_servers, **client_security(system.settings)
    )
    for e in events:
        producer.send(
            system.settings.topic, key=e.kafka_key(), value=e.kafka_value(), headers=e.kafka_headers()
        )
    for key, value in raw:
        producer.send(system.settings.topic, key=key, value=value)
    producer.flush()
    producer.close()


def test_an_unusable_event_is_dead_lettered_and_the_rest_applied(system: System) -> None:
    assert system.post(inspection(district="330784", enterprise=1)).status_code == 201
    # with Kafka also a record that breaks the envelope contract altogether: no CloudEvents headers, not JSON
    _publish(system, [_unknown_type_event()], raw=[(b"330784", b"\xff not json")])
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


# A well-formed envelope whose payload has a field of the wrong JSON type.  The intake never publishes one,
# but the topic is a contract other producers can write to.  Before, a number where the district or the
# enterprise belongs got past the fact's checks and failed the whole batch when the cell keys were sorted
# (TypeError: str against int): the consumer retried that batch for ever and nothing after it was applied.
WRONG_TYPES: list[tuple[str, Any]] = [
    ("district", 330784),
    ("enterprise", 91330784),
    ("submission_id", 7),
    ("form", ["factory_inspection"]),
    ("industry", 33),
]


def _retyped(payload: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(payload)
    data["submission_id"] = str(uuid.uuid4())
    if field == "industry":
        data["data"]["enterprise"]["industry"] = value
    else:
        data[field] = value
    return data


def test_a_payload_field_of_the_wrong_type_is_dead_lettered_and_the_batch_applied(system: System) -> None:
    assert system.post(inspection(district="330784", enterprise=1)).status_code == 201
    with system.intake.engine.connect() as conn:
        (_pos, first), *_ = outbox.read_after(conn, 0, 1)
    payload = json.loads(first.data_json)
    bad = []
    for field, value in WRONG_TYPES:
        data = _retyped(payload, field, value)
        sid = data["submission_id"] if isinstance(data["submission_id"], str) else str(uuid.uuid4())
        bad.append(Event.new(type=first.type, source=first.source, subject=sid, key="330784", data=data))
    _publish(system, bad)
    assert system.post(inspection(district="330784", enterprise=2)).status_code == 201
    system.sync()

    assert system.report("330784")["figures"]["inspections"] == 2
    assert _dead_letter_count(system) == len(WRONG_TYPES)
    assert system.consumer.stats.dead_letters == len(WRONG_TYPES)


def test_a_submission_id_reused_for_another_lineage_is_dead_lettered_in_the_same_batch_and_after(
    system: System,
) -> None:
    """A correction stores version S of lineage A; an accepted event then names S as a first version of its
    own, in the same batch and in a later one.  Stored, it would break facts.submission_id's uniqueness (its
    batch failing for ever) or graft S onto a second lineage: each is dead-lettered, the events around apply."""
    first = inspection(district="330784", enterprise=1)
    assert system.post(first).status_code == 201
    correction = inspection(district="330784", enterprise=1, passed=5, replaces=first["submission_id"])
    assert system.post(correction).status_code == 201
    with system.intake.engine.connect() as conn:
        published = [e for _pos, e in outbox.read_after(conn, 0, 10)]
    accepted = published[0]
    reuse = json.loads(accepted.data_json) | {"submission_id": correction["submission_id"]}

    def reused() -> Event:
        return Event.new(
            type=accepted.type,
            source=accepted.source,
            subject=correction["submission_id"],
            key=accepted.key,  # the enterprise's partition: after the correction
            data=reuse,
        )

    _publish(system, [reused()])  # embedded: in the correction's batch
    system.sync()
    with system.intake.engine.begin() as conn:  # a later batch
        outbox.append(conn, [reused()])
    assert system.post(inspection(district="330784", enterprise=2)).status_code == 201
    system.sync()

    assert system.report("330784")["figures"]["inspections"] == 2
    assert _dead_letter_count(system) == 2
