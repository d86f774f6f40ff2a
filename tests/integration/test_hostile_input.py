"""Hostile bodies get a documented 4xx with the path, never a 5xx, and nothing is written (SQLite and
PostgreSQL: ``client`` comes from pytest-flask on the ``app`` fixture)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from services.eventlog.outbox import outbox
from services.intake.adapters.tables import reviews, submissions
from tests.builders import inspection, survey
from tests.documented import breaches

SINGLE, BATCH, REVIEW = (
    "/api/v1/submissions",
    "/api/v1/submissions/batch",
    "/api/v1/submissions/{submission_id}/review",
)


def _count(client: FlaskClient, table: Any) -> int:
    engine = client.application.extensions["score.intake"].engine
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _stored(client: FlaskClient) -> tuple[int, int, int]:
    return _count(client, submissions), _count(client, outbox), _count(client, reviews)


def _post(client: FlaskClient, url: str, raw: bytes | str, **headers: str) -> Any:
    data = raw.encode() if isinstance(raw, str) else raw
    return client.post(url, data=data, content_type="application/json", headers=headers)


def _documented(client: FlaskClient, path: str, resp: Any) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    assert not breaches(spec, path, "POST", resp), breaches(spec, path, "POST", resp)


@pytest.fixture
def reviewed(client: FlaskClient) -> str:
    """A stored submission to review; its id."""
    body = inspection()
    assert client.post(SINGLE, json=body).status_code == 201
    return str(body["submission_id"])


def _review_url(submission_id: str) -> str:
    return REVIEW.format(submission_id=submission_id)


@pytest.mark.parametrize("endpoint", ["single", "batch", "review"])
@pytest.mark.parametrize(
    "raw", [b"[" * 100_000, b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000]
)
def test_json_nested_100000_deep_is_400_on_every_endpoint(
    client: FlaskClient, reviewed: str, endpoint: str, raw: bytes
) -> None:
    before = _stored(client)
    path, url = {
        "single": (SINGLE, SINGLE),
        "batch": (BATCH, BATCH),
        "review": (REVIEW, _review_url(reviewed)),
    }[endpoint]
    resp = _post(client, url, raw, **{"Accept-Language": "en"})
    assert resp.status_code == 400, resp.get_data(as_text=True)[:300]
    assert resp.get_json()["error"]["code"] == "nesting_too_deep"
    assert "32 levels" in resp.get_json()["error"]["message"]
    _documented(client, path, resp)
    assert _stored(client) == before


def test_a_lone_surrogate_anywhere_is_422_with_its_path(client: FlaskClient, reviewed: str) -> None:
    before = _stored(client)
    hazard = inspection(failed=[("FIRE-01", "fire", "general", "2026-12-01")])
    body = json.dumps(hazard).replace('"finding": "', '"finding": "\\ud800', 1)
    body = body.replace('"machinery"', '"machinery\\udfff"', 1)
    resp = _post(client, SINGLE, body, **{"Accept-Language": "en"})
    assert resp.status_code == 422, resp.get_json()
    assert [(e["path"], e["code"]) for e in resp.get_json()["error"]["errors"]] == [
        ("data.items[0].category", "invalid_unicode"),
        ("data.items[3].hazard.finding", "invalid_unicode"),
    ]
    _documented(client, SINGLE, resp)

    in_key = json.dumps(survey()).replace('"age_band"', '"age_band\\ud800"', 1)
    key_resp = _post(client, SINGLE, in_key)
    assert key_resp.status_code == 422
    assert [e["path"] for e in key_resp.get_json()["error"]["errors"]] == ["data.age_band\\ud800"]

    comment = _post(
        client, _review_url(reviewed), '{"status": "rejected", "reviewer": "bureau-1", "comment": "\\udc00"}'
    )
    assert comment.status_code == 422
    assert [(e["path"], e["code"]) for e in comment.get_json()["error"]["errors"]] == [
        ("comment", "invalid_unicode")
    ]
    _documented(client, REVIEW, comment)
    assert _stored(client) == before


def test_duplicate_keys_are_422_with_the_path_of_the_duplicated_key(
    client: FlaskClient, reviewed: str
) -> None:
    before = _stored(client)
    body = survey()
    text = json.dumps(body).replace('"sc1": ', '"sc1": 9, "sc1": ', 1)
    text = text.replace(
        '"submission_id": ', f'"submission_id": "{inspection()["submission_id"]}", "submission_id": '
    )
    resp = _post(client, SINGLE, text, **{"Accept-Language": "en"})
    assert resp.status_code == 422, resp.get_json()
    assert {(e["path"], e["code"]) for e in resp.get_json()["error"]["errors"]} == {
        ("submission_id", "duplicate_key"),
        ("data.safety_climate.sc1", "duplicate_key"),
    }
    _documented(client, SINGLE, resp)

    review = _post(
        client, _review_url(reviewed), '{"status": "approved", "status": "rejected", "reviewer": "b"}'
    )
    assert review.status_code == 422
    assert [e["path"] for e in review.get_json()["error"]["errors"]] == ["status"]
    assert _stored(client) == before


def test_a_batch_refuses_only_the_item_holding_a_duplicate_key_or_a_surrogate(client: FlaskClient) -> None:
    good, dup, bad_text, also_good = inspection(), survey(), survey(), inspection(enterprise=2)
    items = [
        json.dumps(good),
        json.dumps(dup).replace('"sc1": ', '"sc1": 9, "sc1": ', 1),
        json.dumps(bad_text)
        .replace('"trainer"', '"trainer\\ud800"', 1)
        .replace('"inspector"', '"inspector\\ud800"', 1),
        json.dumps(also_good),
    ]
    resp = _post(client, BATCH, '{"submissions": [' + ", ".join(items) + "]}")
    assert resp.status_code == 207
    results = resp.get_json()["results"]
    assert [r["status"] for r in results] == [201, 422, 422, 201]
    assert [e["path"] for e in results[1]["error"]["errors"]] == ["data.safety_climate.sc1"]
    assert {e["code"] for e in results[2]["error"]["errors"]} == {"invalid_unicode"}
    _documented(client, BATCH, resp)
    assert _count(client, submissions) == 2

    twice = _post(client, BATCH, '{"submissions": [], "submissions": [' + json.dumps(inspection()) + "]}")
    assert twice.status_code == 422
    assert [e["path"] for e in twice.get_json()["error"]["errors"]] == ["submissions"]
    assert _count(client, submissions) == 2


@pytest.mark.parametrize(("language", "expect_chinese"), [(None, True), ("en-US,en;q=0.9", False)])
def test_a_body_too_large_is_413_in_the_language_asked_for(
    client: FlaskClient, language: str | None, expect_chinese: bool
) -> None:
    headers = {"Accept-Language": language} if language else {}
    huge = b"[" + b"1," * 600_000 + b"1]"
    for path, url in ((SINGLE, SINGLE), (BATCH, BATCH)):
        resp = _post(client, url, huge, **headers)
        assert resp.status_code == 413
        error = resp.get_json()["error"]
        assert error["code"] == "request_entity_too_large"
        assert "1000000" in error["message"]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"]) is expect_chinese
        assert error["message"].isascii() is not expect_chinese
        assert resp.headers["Content-Language"] == ("zh-CN" if expect_chinese else "en")
        _documented(client, path, resp)


def test_a_nul_byte_body_on_the_review_endpoint_is_a_documented_400(
    client: FlaskClient, reviewed: str
) -> None:
    resp = _post(client, _review_url(reviewed), b"\x00")
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "malformed_json"
    _documented(client, REVIEW, resp)


def test_review_text_the_database_cannot_store_is_422_and_a_malformed_id_is_404(
    client: FlaskClient, reviewed: str
) -> None:
    # PostgreSQL refuses NUL in text and values wider than the column with an error, so these are checked
    # before the database sees them (this test runs on PostgreSQL too)
    before = _stored(client)
    url = _review_url(reviewed)
    nul = client.post(url, json={"status": "rejected", "reviewer": "bureau-1", "comment": "照片\x00缺失"})
    assert nul.status_code == 422 and nul.get_json()["error"]["errors"][0]["path"] == "comment"
    wide = client.post(url, json={"status": "approved", "reviewer": "r" * 65})
    assert wide.status_code == 422 and wide.get_json()["error"]["errors"][0]["path"] == "reviewer"
    for bad_id in ("nope", "%00", "a" * 300, reviewed + "\x00"):
        resp = client.post(_review_url(bad_id), json={"status": "approved", "reviewer": "bureau-1"})
        assert resp.status_code == 404, (bad_id, resp.get_data(as_text=True)[:200])
        assert client.get(f"{SINGLE}/{bad_id}").status_code == 404
    assert _stored(client) == before
    ok = client.post(url, json={"status": "rejected", "reviewer": "bureau-1", "comment": "照片缺失\n请补拍"})
    assert ok.status_code == 200


def test_every_status_the_intake_answers_is_documented(client: FlaskClient, reviewed: str) -> None:
    """A matrix of requests, hostile and ordinary, at every operation: each answer must be documented."""
    spec = client.get("/api/v1/openapi.json").get_json()
    review_url = _review_url(reviewed)
    bodies: list[tuple[bytes, str]] = [
        (b"", "application/json"),
        (b"\x00", "application/json"),
        (b"{not json", "application/json"),
        (b"[NaN]", "application/json"),
        (b"[" * 100_000, "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"a": 1, "a": 2}', "application/json"),
        (b'"\\ud800"', "application/json"),
        (b"a=1", "application/x-www-form-urlencoded"),
        (b"{}", "text/plain"),
        (b"[" + b"1," * 600_000 + b"1]", "application/json"),
        (json.dumps({"submissions": [inspection()] * 101}).encode(), "application/json"),
        (json.dumps(inspection(submission_id=reviewed)).encode(), "application/json"),  # a retry: 200
        (json.dumps(inspection(submission_id=reviewed, enterprise=3)).encode(), "application/json"),  # 409
        (json.dumps({"status": "maybe", "reviewer": "x"}).encode(), "application/json"),
    ]
    seen: set[tuple[str, int]] = set()
    for path, url in ((SINGLE, SINGLE), (BATCH, BATCH), (REVIEW, review_url), (REVIEW, _review_url("nope"))):
        for raw, content_type in bodies:
            resp = client.post(url, data=raw, content_type=content_type)
            assert resp.status_code < 500, (url, raw[:50])
            assert not breaches(spec, path, "POST", resp), (url, raw[:50], breaches(spec, path, "POST", resp))
            seen.add((path, resp.status_code))
    for url in (f"{SINGLE}/{reviewed}", f"{SINGLE}/nope", f"{SINGLE}/{reviewed.upper()}"):
        resp = client.get(url)
        assert not breaches(spec, "/api/v1/submissions/{submission_id}", "GET", resp)
    # the matrix reaches every refusal it is meant to
    assert {s for p, s in seen if p == SINGLE} >= {200, 400, 409, 413, 415, 422}
    assert {s for p, s in seen if p == REVIEW} >= {400, 404, 413, 415, 422}
    # and Werkzeug's own refusals come in the API's shape, with Allow on a 405
    wrong_method = client.delete(SINGLE)
    assert wrong_method.status_code == 405 and "POST" in wrong_method.headers["Allow"]
    assert wrong_method.get_json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("supplied", ["phone-7\r\n\tattempt-3", "a\x01b", "永康-1", "x" * 65])
def test_a_request_id_that_cannot_be_echoed_is_replaced_not_a_500(client: FlaskClient, supplied: str) -> None:
    # a folded header line reaches the app with its line break; Werkzeug refuses to write one back
    resp = client.get("/api/v1/forms", environ_overrides={"HTTP_X_REQUEST_ID": supplied})
    assert resp.status_code == 200
    echoed = resp.headers["X-Request-ID"]
    if supplied == "x" * 65:
        assert echoed == "x" * 64  # a long but clean id is kept, cut to 64
    else:
        assert len(echoed) == 32 and all(c in "0123456789abcdef" for c in echoed)  # a fresh one
