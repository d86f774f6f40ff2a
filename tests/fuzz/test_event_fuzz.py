"""Hypothesis on the aggregator's side of the event contract: an event whose envelope is well formed but whose
payload is a mutated copy of one the intake published is either applied or dead-lettered on its own.  It never
fails its batch (the consumer would retry that batch for ever and apply nothing after it), the events around it
are applied, and the rollups still equal a recomputation from the stored facts.

Why: the topic is a public contract, and other producers than our intake can write to it.  A number where the
district belonged once got past every check and failed its batch (``tests/integration/test_dead_letters.py``
keeps that case).  Here every part of every kind of payload is mutated, not only the fields we thought of.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.aggregator.domain.facts import ACCEPTED, CORRECTED, REVIEWED
from services.aggregator.service_layer.verify import verify
from services.eventlog import outbox
from services.eventlog.envelope import Event
from tests.builders import inspection, rectification, survey
from tests.conftest import System, build_system, migrated, real_settings, sqlite_settings
from tests.fuzz.mutations import fuzz_settings, mutated

EXAMPLES = 300

SETTINGS = fuzz_settings(EXAMPLES)


@dataclass
class Tally:
    applied: int = 0
    dead_lettered: int = 0


@dataclass
class Published:
    system: System
    events: list[Event]  # what the intake published: one of each kind of payload
    tally: Tally


def _published(system: System, position: int) -> list[tuple[int, Event]]:
    with system.intake.engine.connect() as conn:
        return list(outbox.read_after(conn, position, 1000))


@pytest.fixture(
    scope="module", params=["embedded", pytest.param("real", marks=[pytest.mark.postgres, pytest.mark.kafka])]
)
def published(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    fuzz_summary: Callable[[str], None],
) -> Iterator[Published]:
    """One system for every example, embedded (SQLite and its SQL log) and real (PostgreSQL, the relay and
    Kafka: the record decoding, the binary COPY and PostgreSQL's own refusals, such as a NUL in text),
    seeded with the payloads the intake publishes: inspections with and without hazards, a rectification, a
    survey, a correction and a review."""
    if request.param == "embedded":
        settings = sqlite_settings(Path(tmp_path_factory.mktemp("event-fuzz")))
    else:
        settings = real_settings(request)
    system = build_system(migrated(settings))
    first = inspection(enterprise=1, failed=[("ELEC-01", "electrical", "major", "2026-12-05")])
    for body in (
        first,
        inspection(enterprise=2, district="330100", industry="C34"),
        rectification(first["submission_id"], "ELEC-01"),
        survey(enterprise=3),
    ):
        assert system.post(body).status_code == 201, body
    correction = inspection(enterprise=1, passed=5, replaces=first["submission_id"])
    assert system.post(correction).status_code == 201
    review = system.client.post(
        f"/api/v1/submissions/{correction['submission_id']}/review",
        json={"status": "rejected", "comment": "photos missing"},
    )
    assert review.status_code in (200, 201), review.get_json()
    events = [e for _pos, e in _published(system, 0)]
    assert {e.type for e in events} == {ACCEPTED, CORRECTED, REVIEWED}, [e.type for e in events]
    system.sync()
    tally = Tally()
    yield Published(system, events, tally)
    system.consumer.close()
    if system.relay is not None:
        system.relay._reset_publisher()
    fuzz_summary(
        f"event fuzz ({request.param}): {tally.applied + tally.dead_lettered} mutated payloads, "
        f"{tally.applied} applied, {tally.dead_lettered} dead-lettered, none failed its batch"
    )


def _event_like(seed: Event, payload: Any) -> Event:
    subject = payload.get("submission_id") if isinstance(payload, dict) else None
    event = Event.new(
        type=seed.type,
        source=seed.source,
        subject=subject if isinstance(subject, str) else str(uuid.uuid4()),
        key=seed.key,
        data={},
    )
    # as another producer could write it: JSON with escapes, so a lone surrogate ("\ud800") is valid UTF-8
    # text on the log and reaches the aggregator as what the escape decodes to
    return replace(event, data_json=json.dumps(payload))


@SETTINGS
@given(data=st.data())
def test_a_mutated_payload_is_applied_or_dead_lettered_and_never_fails_its_batch(
    published: Published, data: st.DataObject
) -> None:
    system = published.system
    seed = data.draw(st.sampled_from(published.events), label="seed")
    payload = data.draw(mutated(bodies=(json.loads(seed.data_json),)), label="payload")
    fine = Event.new(
        type=published.events[0].type,
        source=published.events[0].source,
        subject=(sid := str(uuid.uuid4())),
        key="330784",
        data={**json.loads(published.events[0].data_json), "submission_id": sid},
    )
    before = system.consumer.stats
    applied0, dead0 = before.applied, before.dead_letters
    with system.intake.engine.begin() as conn:
        outbox.append(conn, [_event_like(seed, payload), fine])

    system.sync(60)  # a batch that fails raises here

    stats = system.consumer.stats
    applied, dead = stats.applied - applied0, stats.dead_letters - dead0
    assert applied + dead == 2, (applied, dead)
    assert applied >= 1  # the well-formed event after it
    published.tally.applied += applied - 1
    published.tally.dead_lettered += dead


def test_after_every_mutated_payload_the_rollups_equal_a_recomputation(published: Published) -> None:
    assert published.tally.applied + published.tally.dead_lettered == EXAMPLES
    report = verify(published.system.aggregator.engine)
    assert report.ok, report.differences[:5]
