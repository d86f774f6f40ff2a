"""The published event contracts (schemas/events, schemas/asyncapi.yaml) hold for what the system emits.

On the embedded backend the events are read from the outbox table; on the real one from the Kafka topic with
a plain kafka-python consumer, as an integrator would read them (no project code on the reading side).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from sqlalchemy import select

from services.eventlog.contracts import SUBMISSION_ACCEPTED as ACCEPTED
from services.eventlog.contracts import SUBMISSION_CORRECTED as CORRECTED
from services.eventlog.contracts import SUBMISSION_REVIEWED as REVIEWED
from services.eventlog.outbox import outbox, row_to_event
from tests.builders import credit_code, inspection, rectification, survey
from tests.conftest import System
from tests.topics import read_topic

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
EVENTS = SCHEMAS / "events"
ASYNCAPI = SCHEMAS / "asyncapi.yaml"
EVENT_SCHEMA_FILES = {
    ACCEPTED: "submission.accepted.v1.schema.json",
    CORRECTED: "submission.corrected.v1.schema.json",
    REVIEWED: "submission.reviewed.v1.schema.json",
}
HEADERS_SCHEMA_FILE = "cloudevents-headers.schema.json"


@dataclass(frozen=True)
class Record:
    """One event as an integrator sees it: key, headers (name -> text), JSON value and its position."""

    key: str
    headers: dict[str, str]
    value: Any
    partition: int
    offset: int


def _registry() -> Registry[Any]:
    resources = []
    for path in sorted([*(SCHEMAS / "forms").glob("*.schema.json"), *EVENTS.glob("*.schema.json")]):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources)


def _validator(file: str) -> Draft202012Validator:
    schema = json.loads((EVENTS / file).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(
        schema, registry=_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _assert_valid(validator: Draft202012Validator, instance: Any, what: str) -> None:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, f"{what}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors[:5]
    )


# -- the scenario --------------------------------------------------------------------------------------


def _ok(resp: Any, *codes: int) -> Any:
    assert resp.status_code in (codes or (200, 201)), resp.get_json()
    return resp.get_json()


def _review(system: System, submission_id: str, status: str, comment: str | None = None) -> None:
    body: dict[str, Any] = {"status": status, "reviewer": "bureau-yk-01"}
    if comment is not None:
        body["comment"] = comment
    _ok(system.client.post(f"/api/v1/submissions/{submission_id}/review", json=body), 200)


@dataclass(frozen=True)
class Scenario:
    inspection_id: str
    correction_id: str
    rectification_id: str
    survey_id: str
    other_survey_id: str
    enterprise: str  # credit code of enterprise 1
    other_enterprise: str  # credit code of enterprise 2


def _run_scenario(system: System) -> Scenario:
    """Inspection with hazards, rectification, worker surveys, a correction, reviews approved and rejected."""
    failed = [
        ("ELEC-01", "electrical", "major", "2026-12-20"),
        ("FIRE-02", "fire", "general", "2026-12-10"),
    ]
    first = inspection(enterprise=1, failed=failed)
    _ok(system.post(first), 201)
    rect = rectification(first["submission_id"], "ELEC-01")
    _ok(system.post(rect), 201)
    mine = survey(enterprise=1)
    _ok(system.post(mine), 201)
    other = survey(enterprise=2, climate=2)
    _ok(system.post(other), 201)
    fixed = inspection(enterprise=1, failed=failed[:1], passed=4, replaces=first["submission_id"])
    _ok(system.post(fixed), 201)
    _review(system, fixed["submission_id"], "approved")
    _review(system, mine["submission_id"], "has_issues", "")
    _review(system, mine["submission_id"], "rejected", "同一工人重复填写")
    _review(system, rect["submission_id"], "approved", "现场已核实")
    return Scenario(
        inspection_id=first["submission_id"],
        correction_id=fixed["submission_id"],
        rectification_id=rect["submission_id"],
        survey_id=mine["submission_id"],
        other_survey_id=other["submission_id"],
        enterprise=credit_code(1),
        other_enterprise=credit_code(2),
    )


def _outbox_records(system: System) -> list[Record]:
    """The events as stored in the outbox, shaped as the Kafka records the relay makes of them."""
    with system.intake.engine.connect() as conn:
        rows = conn.execute(select(outbox).order_by(outbox.c.position)).all()
    records = []
    for row in rows:
        event = row_to_event(row)
        records.append(
            Record(
                key=event.kafka_key().decode(),
                headers={name: raw.decode() for name, raw in event.kafka_headers()},
                value=json.loads(event.kafka_value().decode("utf-8")),
                partition=0,
                offset=row.position,
            )
        )
    return records


def _kafka_records(bootstrap: str, topic: str) -> list[Record]:
    """Every record of ``topic`` from the beginning, read with a plain kafka-python consumer (no group)."""
    return [
        Record(
            key=r.key.decode("utf-8"),
            headers={name: raw.decode("utf-8") for name, raw in r.headers},
            value=json.loads(r.value.decode("utf-8")),
            partition=r.partition,
            offset=r.offset,
        )
        for r in read_topic(bootstrap, topic)
    ]


def _records(system: System) -> list[Record]:
    if system.relay is None:
        return _outbox_records(system)
    system.relay.drain(60)
    return _kafka_records(system.settings.kafka_bootstrap_servers, system.settings.topic)


# -- the tests -----------------------------------------------------------------------------------------


def test_every_emitted_event_follows_its_published_contract(system: System) -> None:
    scenario = _run_scenario(system)
    records = _records(system)

    stored = {r.headers["ce_id"] for r in _outbox_records(system)}
    assert {r.headers["ce_id"] for r in records} == stored
    assert len(records) == len(stored) == 9  # 5 submission versions (one a correction) + 4 reviews
    headers_schema = _validator(HEADERS_SCHEMA_FILE)
    payload_schemas = {t: _validator(f) for t, f in EVENT_SCHEMA_FILES.items()}

    enterprise_of: dict[str, str | None] = {}
    for r in records:
        what = f"{r.headers.get('ce_type')} {r.headers.get('ce_id')}"
        _assert_valid(headers_schema, r.headers, f"headers of {what}")
        assert r.headers["content-type"] == "application/json"
        assert r.headers["ce_specversion"] == "1.0"
        _assert_valid(payload_schemas[r.headers["ce_type"]], r.value, f"payload of {what}")
        assert r.headers["ce_subject"] == r.value["submission_id"]
        if r.headers["ce_type"] in (ACCEPTED, CORRECTED):
            assert r.headers["ce_id"] == f"{r.value['submission_id']}:received"
            enterprise_of[r.value["submission_id"]] = r.value["enterprise"]
            assert r.key == (r.value["enterprise"] or r.value["district"])
        else:
            assert r.headers["ce_id"].startswith(f"{r.value['submission_id']}:review:")
            assert r.key == enterprise_of[r.value["submission_id"]]  # reviews follow their submission

    by_id = {r.headers["ce_id"]: r for r in records}
    assert by_id[f"{scenario.inspection_id}:received"].headers["ce_type"] == ACCEPTED
    correction = by_id[f"{scenario.correction_id}:received"]
    assert correction.headers["ce_type"] == CORRECTED
    assert correction.value["replaces"] == scenario.inspection_id
    rect = by_id[f"{scenario.rectification_id}:received"]
    assert rect.value["form"] == "hazard_rectification"
    assert rect.key == rect.value["enterprise"] == scenario.enterprise  # keyed by the inspected enterprise
    assert rect.value["computed"]["hazard"]["item_code"] == "ELEC-01"
    assert by_id[f"{scenario.other_survey_id}:received"].key == scenario.other_enterprise
    rejected = by_id[f"{scenario.survey_id}:review:2"].value
    assert (rejected["status"], rejected["previous_status"]) == ("rejected", "has_issues")
    assert by_id[f"{scenario.correction_id}:review:1"].value["status"] == "approved"
    keys = {r.key for r in records}
    assert keys == {scenario.enterprise, scenario.other_enterprise}


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["real"], indirect=True)
def test_one_enterprise_s_events_are_ordered_on_its_partition(system: System) -> None:
    scenario = _run_scenario(system)
    records = [r for r in _records(system) if r.key == scenario.enterprise]
    assert len({r.partition for r in records}) == 1  # one key, one partition
    offset = {r.headers["ce_id"]: r.offset for r in records}
    accepted = offset[f"{scenario.inspection_id}:received"]
    rectified = offset[f"{scenario.rectification_id}:received"]
    corrected = offset[f"{scenario.correction_id}:received"]
    reviewed = offset[f"{scenario.correction_id}:review:1"]
    assert accepted < rectified < corrected < reviewed
    survey_reviews = [offset[f"{scenario.survey_id}:review:{n}"] for n in (1, 2)]
    assert offset[f"{scenario.survey_id}:received"] < survey_reviews[0] < survey_reviews[1]


# -- the AsyncAPI document -----------------------------------------------------------------------------


def _walk_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _walk_refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _walk_refs(value)]
    return []


def _pointer(document: Any, fragment: str, where: str) -> Any:
    node = document
    for part in [p for p in fragment.lstrip("/").split("/") if p] if fragment else []:
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{where}: no {part!r} on the way to #{fragment}"
        node = node[part]
    return node


def _load(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)


def _assert_refs_resolve(path: Path) -> list[Path]:
    """Every ``$ref`` in ``path`` names an existing file (relative to ``path``) and fragment; returns the files."""
    document = _load(path)
    files = []
    for ref in _walk_refs(document):
        file, _, fragment = ref.partition("#")
        assert "://" not in file, f"{path.name}: {ref} is not a relative reference"
        target = (path.parent / file).resolve() if file else path
        assert target.is_file(), f"{path.name}: $ref {ref} names a missing file"
        _pointer(_load(target) if file else document, fragment, f"{path.name}: $ref {ref}")
        if file:
            files.append(target)
    return files


def test_the_asyncapi_document_names_every_event_type_and_its_refs_resolve() -> None:
    doc = yaml.safe_load(ASYNCAPI.read_text(encoding="utf-8"))
    assert doc["asyncapi"] == "3.0.0"
    assert doc["servers"]["development"]["host"] == "127.0.0.1:9092"
    assert doc["servers"]["development"]["protocol"] == "kafka"
    addresses = {channel["address"] for channel in doc["channels"].values()}
    assert {"score.submissions.v1", "score.submissions.dlq.v1", "score.rollups.v1"} <= addresses
    text = ASYNCAPI.read_text(encoding="utf-8")
    for event_type, file in EVENT_SCHEMA_FILES.items():
        assert event_type in text, f"{event_type} is not in the AsyncAPI document"
        assert f"./events/{file}" in text, f"{file} is not referenced by the AsyncAPI document"
    for operation in doc["operations"].values():
        assert operation["action"] in ("send", "receive")
        assert operation["channel"]["$ref"].startswith("#/channels/")

    referenced = set(_assert_refs_resolve(ASYNCAPI))
    assert {(EVENTS / f).resolve() for f in [*EVENT_SCHEMA_FILES.values(), HEADERS_SCHEMA_FILE]} <= referenced
    for schema_file in EVENTS.glob("*.schema.json"):
        _assert_refs_resolve(schema_file)
        Draft202012Validator.check_schema(_load(schema_file))


def test_events_of_records_with_photos_carry_references_that_follow_the_contract(system: System) -> None:
    """Photos travel by reference (id, sha256, type) beside the hazard and on the rectification."""
    from tests.images import photo

    ids = [f"0e5c2a71-4b3d-4f6e-9a8b-7c6d5e4f3a2{n}" for n in range(3)]
    for n, aid in enumerate(ids):
        resp = system.client.put(f"/api/v1/attachments/{aid}", data=photo(seed=n), content_type="image/jpeg")
        _ok(resp, 201)
    found = inspection(enterprise=7, failed=[("ELEC-01", "electrical", "major", "2026-12-20")])
    found["data"]["items"][-1]["hazard"]["photos"] = ids[:2]
    _ok(system.post(found), 201)
    fix = rectification(found["submission_id"], "ELEC-01")
    fix["data"]["photos"] = ids[2:]
    _ok(system.post(fix), 201)

    accepted = _validator(EVENT_SCHEMA_FILES[ACCEPTED])
    values = {r.value["submission_id"]: r.value for r in _records(system)}
    for value in values.values():
        _assert_valid(accepted, value, value["submission_id"])
    [hazard] = values[found["submission_id"]]["computed"]["hazards"]
    assert [p["attachment_id"] for p in hazard["photos"]] == ids[:2]
    computed = values[fix["submission_id"]]["computed"]
    assert [p["attachment_id"] for p in computed["photos"]] == ids[2:]
    assert [p["attachment_id"] for p in computed["hazard"]["photos"]] == ids[:2]
    # a reference that is not one breaks the contract: the schema is not merely permissive
    broken = json.loads(json.dumps(values[fix["submission_id"]]))
    broken["computed"]["photos"][0]["bytes"] = "/9j/4AAQ"
    assert list(accepted.iter_errors(broken))
