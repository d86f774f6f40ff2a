"""A review carries the client's ``review_id``: a retry after a lost answer is recorded once and emits one
event, on SQLite and on PostgreSQL (``client`` comes from pytest-flask over the ``intake_settings`` fixture)."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select

from services.eventlog.contracts import SUBMISSION_REVIEWED as REVIEWED
from services.eventlog.outbox import outbox
from services.intake.adapters.tables import reviews
from tests.builders import inspection


def _count(client: FlaskClient, table: Any, *where: Any) -> int:
    engine = client.application.extensions["score.intake"].engine
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _submitted(client: FlaskClient) -> str:
    body = inspection()
    assert client.post("/api/v1/submissions", json=body).status_code == 201
    return str(body["submission_id"])


def _review(client: FlaskClient, submission_id: str, **body: Any) -> Any:
    return client.post(
        f"/api/v1/submissions/{submission_id}/review",
        json={"reviewer": "bureau-yk-01", **body},
        headers={"Accept-Language": "en"},
    )


def test_a_retried_review_is_recorded_once_with_the_original_answer(client: FlaskClient) -> None:
    sid = _submitted(client)
    key = str(uuid.uuid4())
    first = _review(client, sid, status="rejected", comment="照片缺失", review_id=key)
    again = _review(client, sid, status="rejected", comment="照片缺失", review_id=key)
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.get_json() == {"submission_id": sid, "review_status": "rejected", "seq": 1, "review_id": key}
    assert again.get_json() == first.get_json()
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _count(client, reviews) == 1
    assert _count(client, outbox, outbox.c.type == REVIEWED) == 1  # one event, not one per attempt

    # A later review moves the state on; a late retry of the first still gets the first answer, changes nothing.
    assert _review(client, sid, status="approved", review_id=str(uuid.uuid4())).get_json()["seq"] == 2
    late = _review(client, sid, status="rejected", comment="照片缺失", review_id=key.upper())
    assert late.status_code == 200 and late.get_json() == first.get_json()
    state = client.get(f"/api/v1/submissions/{sid}").get_json()["review"]
    assert state["status"] == "approved"
    assert [h["status"] for h in state["history"]] == ["rejected", "approved"]
    assert _count(client, outbox, outbox.c.type == REVIEWED) == 2


def test_the_same_review_id_with_other_content_is_a_conflict(client: FlaskClient) -> None:
    sid, other_sid = _submitted(client), _submitted(client)
    key = str(uuid.uuid4())
    assert _review(client, sid, status="has_issues", comment="缺签名", review_id=key).status_code == 200
    for body, target in [
        ({"status": "approved"}, sid),  # another decision
        ({"status": "has_issues", "comment": "缺签名和日期"}, sid),  # another comment
        ({"status": "has_issues", "comment": "缺签名", "reviewer": "bureau-yk-02"}, sid),  # another reviewer
        ({"status": "has_issues", "comment": "缺签名"}, other_sid),  # another submission
    ]:
        resp = _review(client, target, review_id=key, **body)
        assert resp.status_code == 409, (body, target, resp.get_json())
        error = resp.get_json()["error"]
        assert error["code"] == "review_id_reused"
        assert [e["path"] for e in error["errors"]] == ["review_id"]
    assert _count(client, reviews) == 1
    assert _count(client, outbox, outbox.c.type == REVIEWED) == 1


def test_a_retry_is_answered_even_after_the_submission_was_corrected(client: FlaskClient) -> None:
    old = inspection()
    assert client.post("/api/v1/submissions", json=old).status_code == 201
    key = str(uuid.uuid4())
    first = _review(client, old["submission_id"], status="approved", review_id=key)
    assert first.status_code == 200
    assert (
        client.post("/api/v1/submissions", json=inspection(replaces=old["submission_id"])).status_code == 201
    )
    # A new review of the replaced version is refused, but the retry of the one already recorded is not:
    # the client only lost the answer, the review itself happened.
    assert _review(client, old["submission_id"], status="approved").status_code == 409
    again = _review(client, old["submission_id"], status="approved", review_id=key)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert _count(client, reviews) == 1


def test_a_review_id_that_is_not_a_uuid_is_refused_by_path(client: FlaskClient) -> None:
    sid = _submitted(client)
    for bad in ["review-1", 42, "", str(uuid.uuid4()).replace("-", "")]:
        resp = _review(client, sid, status="approved", review_id=bad)
        assert resp.status_code == 422, bad
        assert [e["path"] for e in resp.get_json()["error"]["errors"]] == ["review_id"]
    assert _count(client, reviews) == 0


def test_a_review_without_review_id_is_accepted_but_not_retry_safe(client: FlaskClient) -> None:
    """Old clients keep working; what the README warns about: their retry records a second review."""
    sid = _submitted(client)
    first = _review(client, sid, status="approved")
    again = _review(client, sid, status="approved")
    assert (first.status_code, again.status_code) == (200, 200)
    assert (first.get_json()["seq"], again.get_json()["seq"]) == (1, 2)
    assert "review_id" not in first.get_json()
    assert _count(client, reviews) == 2


def test_racing_retries_of_one_review_are_recorded_once(client: FlaskClient) -> None:
    sid = _submitted(client)
    key = str(uuid.uuid4())
    app = client.application
    answers: list[tuple[int, Any, bool]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def post() -> None:
        with app.test_client() as c:
            barrier.wait(timeout=30)
            resp = c.post(
                f"/api/v1/submissions/{sid}/review",
                json={"status": "rejected", "comment": "重复填报", "reviewer": "bureau-1", "review_id": key},
            )
            with lock:
                answers.append((resp.status_code, resp.get_json(), "Idempotent-Replayed" in resp.headers))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert [a[0] for a in answers] == [200] * 8, answers
    assert all(
        a[1] == {"submission_id": sid, "review_status": "rejected", "seq": 1, "review_id": key}
        for a in answers
    )
    # one request recorded it, the seven others were told theirs was a replay
    assert sorted(a[2] for a in answers) == [False] + [True] * 7
    assert _count(client, reviews) == 1
    assert _count(client, outbox, outbox.c.type == REVIEWED) == 1


def test_the_review_answer_and_its_key_are_documented(client: FlaskClient) -> None:
    from jsonschema import Draft202012Validator

    spec = client.get("/api/v1/openapi.json").get_json()
    op = spec["paths"]["/api/v1/submissions/{submission_id}/review"]["post"]
    request_schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert "review_id" in request_schema["properties"] and "review_id" not in request_schema["required"]
    assert "Idempotent-Replayed" in op["responses"]["200"]["headers"]
    receipt = Draft202012Validator(spec["components"]["schemas"]["ReviewReceipt"])
    sid = _submitted(client)
    key = str(uuid.uuid4())
    for attempt in range(2):
        resp = _review(client, sid, status="approved", review_id=key)
        assert resp.status_code == 200, attempt
        receipt.validate(resp.get_json())
    receipt.validate(_review(client, sid, status="has_issues").get_json())
