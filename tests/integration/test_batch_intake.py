"""A batch is stored in few transactions (service_layer.batch) yet every item gets the answer it would get
posted on its own, in its place: retries, an id twice in one batch, an id reused with other content, a
rectification of an inspection earlier in the same batch, a correction, and invalid items among them."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from services.eventlog.outbox import outbox
from services.intake.adapters.tables import submissions
from tests.builders import changed, inspection, rectification, survey

HAZARD = [("DUST-01", "dust_explosion", "major", "2026-12-20")]


def _items() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(posted before the batch, the batch)."""
    stored = inspection(enterprise=7)
    reused = inspection(enterprise=8)
    a = inspection(enterprise=1, failed=HAZARD)
    b = inspection(enterprise=2)
    correction = {**inspection(enterprise=7, passed=5), "replaces": stored["submission_id"]}
    batch = [
        a,
        stored,  # a retry of what is stored: 200
        changed(reused, "data.enterprise.name", "另一家工厂"),  # id stored with other content: refused
        b,
        b,  # the same id twice in one batch: the second is a retry
        changed(b, "data.enterprise.name", "另一家工厂"),  # ... and again with other content: refused
        rectification(a["submission_id"], "DUST-01"),  # rectifies an inspection earlier in this batch
        changed(inspection(), "data.items.0.result", "maybe"),  # invalid
        survey(),
        correction,  # corrects the one stored before the batch
        inspection(enterprise=3),
    ]
    return [stored, reused], batch


def _stored(app: Flask) -> tuple[set[str], list[str]]:
    engine = app.extensions["score.intake"].engine
    with engine.connect() as conn:
        ids = {r.id for r in conn.execute(select(submissions.c.id))}
        events = [r.subject for r in conn.execute(select(outbox.c.subject).order_by(outbox.c.position))]
    return ids, events


def test_a_batch_answers_each_item_as_posted_one_by_one(client: FlaskClient, app: Flask) -> None:
    before, batch = _items()
    for body in before:
        assert client.post("/api/v1/submissions", json=body).status_code == 201

    resp = client.post("/api/v1/submissions/batch", json={"submissions": batch})
    assert resp.status_code == 207, resp.get_json()
    results = resp.get_json()["results"]
    assert [r["index"] for r in results] == list(range(len(batch)))
    assert [r["status"] for r in results] == [201, 200, 409, 201, 200, 409, 201, 422, 201, 201, 201]
    assert results[2]["error"]["code"] == results[5]["error"]["code"] == "id_reused"
    assert results[7]["error"]["errors"][0]["path"] == "data.items[0].result"
    for i in (0, 3, 6, 8, 9, 10):
        assert results[i]["receipt"]["submission_id"] == batch[i]["submission_id"]
    assert results[1]["receipt"]["submission_id"] == before[0]["submission_id"]

    ids, events = _stored(app)
    accepted = {batch[i]["submission_id"] for i in (0, 3, 6, 8, 9, 10)}
    assert ids == accepted | {b["submission_id"] for b in before}
    # one event per stored version (a correction also raises one for the version it supersedes, at most)
    new_events = events[len(before) :]
    assert accepted <= set(new_events)
    assert len([e for e in new_events if e in accepted]) == len(accepted)
    # the rectification's event follows its inspection's, as in the batch
    assert new_events.index(batch[0]["submission_id"]) < new_events.index(batch[6]["submission_id"])

    # the whole batch again: every item is now a retry of what it stored (or refused as before)
    again = client.post("/api/v1/submissions/batch", json={"submissions": batch}).get_json()["results"]
    assert [r["status"] for r in again] == [200, 200, 409, 200, 200, 409, 200, 422, 200, 200, 200]
    assert _stored(app) == (ids, events)


def _audited(app: Flask) -> list[tuple[str, str | None, str | None]]:
    entries = app.extensions["score.access"].audit(limit=1000)
    return sorted(
        (e["action"], e["target"], e["district"]) for e in entries if e["action"] != "session.login"
    )


def test_each_stored_item_is_audited_once_and_nothing_else(client: FlaskClient, app: Flask) -> None:
    """The batch's audit entries are written together (one statement), yet each is the entry the item would
    get posted on its own: one per version stored, none for a retry, a refusal or an invalid item."""
    before, batch = _items()
    for body in before:
        assert client.post("/api/v1/submissions", json=body).status_code == 201
    audited_before = _audited(app)

    results = client.post("/api/v1/submissions/batch", json={"submissions": batch}).get_json()["results"]
    stored = [batch[i] for i, r in enumerate(results) if r["status"] == 201]
    assert len(stored) == 6
    actions = {0: "submission.create", 6: "rectification.create", 9: "submission.correct"}
    expected = sorted(
        (actions.get(i, "submission.create"), batch[i]["submission_id"], batch[i]["district"])
        for i, r in enumerate(results)
        if r["status"] == 201
    )
    new = list(_audited(app))
    for entry in audited_before:
        new.remove(entry)
    assert new == expected

    # the batch again: every item a retry or refused as before, so no new entry at all
    client.post("/api/v1/submissions/batch", json={"submissions": batch})
    assert len(_audited(app)) == len(audited_before) + len(expected)
