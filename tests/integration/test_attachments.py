"""Evidence photos through the API, on SQLite and on PostgreSQL: stored once with their SHA-256, recognised
from their bytes, named by records of the uploading account only, read by the uploader and the reviewers of
the records' districts; the events carry references, never bytes.  Hostile bodies get their 4xx and leave
nothing behind."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from services.access import AccessStore
from services.access import bootstrap as access_bootstrap
from services.common.config import ConfigError, Settings
from services.eventlog.outbox import outbox
from services.intake.adapters.tables import attachments, submission_attachments, submissions
from services.intake.bootstrap import bootstrap
from services.intake.entrypoints.app import create_app
from tests.builders import NOW, inspection, rectification
from tests.conftest import authorize, operator_token
from tests.images import photo

FAILED = [
    ("DUST-01", "dust_explosion", "major", "2026-12-20"),
    ("FIRE-02", "fire", "general", "2026-12-01"),
]


def _count(app: Flask, table: Any) -> int:
    with app.extensions["score.intake"].engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _token(app: Flask, name: str, roles: list[str], districts: list[str], kind: str = "device") -> str:
    store: AccessStore = app.extensions["score.access"]
    return store.issue(name, roles, districts, kind=kind).token


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def put(
    client: FlaskClient, data: bytes, content_type: str = "image/jpeg", aid: str | None = None, **kw: Any
) -> Any:
    return client.put(
        f"/api/v1/attachments/{aid or uuid.uuid4()}", data=data, content_type=content_type, **kw
    )


def _events(app: Flask) -> list[dict[str, Any]]:
    with app.extensions["score.intake"].engine.connect() as conn:
        return [json.loads(r.data) for r in conn.execute(select(outbox.c.data).order_by(outbox.c.position))]


def _with_photos(body: dict[str, Any], per_item: dict[int, list[Any]]) -> dict[str, Any]:
    for index, ids in per_item.items():
        body["data"]["items"][index]["hazard"]["photos"] = ids
    return body


# --- the upload ---------------------------------------------------------------------------------------------


def test_a_photo_is_stored_once_with_its_hash_and_read_back_by_its_uploader(client: FlaskClient) -> None:
    data, aid = photo(seed=1), str(uuid.uuid4()).upper()  # either case, stored lower-case
    first = put(client, data, aid=aid)
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert body == {
        "attachment_id": aid.lower(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "content_type": "image/jpeg",
        "size": len(data),
    }
    assert first.headers["Location"] == f"/api/v1/attachments/{aid.lower()}"
    again = put(client, data, aid=aid)
    assert (again.status_code, again.get_json()) == (200, body)

    got = client.get(f"/api/v1/attachments/{aid}")
    assert got.status_code == 200
    assert (got.data, got.mimetype) == (data, "image/jpeg")
    assert got.headers["ETag"] == f'"{body["sha256"]}"'
    assert got.headers["Cache-Control"] == "no-store"
    assert _count(client.application, attachments) == 1
    store: AccessStore = client.application.extensions["score.access"]
    assert [e["target"] for e in store.audit(action="attachment.create")] == [aid.lower()]


@pytest.mark.parametrize("content_type", ["image/png", "image/webp"])
def test_png_and_webp_photos_are_taken_too(client: FlaskClient, content_type: str) -> None:
    resp = put(client, photo(content_type), content_type)
    assert resp.status_code == 201 and resp.get_json()["content_type"] == content_type


def test_the_same_id_with_other_bytes_is_a_conflict_and_the_first_bytes_stay(client: FlaskClient) -> None:
    aid = str(uuid.uuid4())
    assert put(client, photo(seed=1), aid=aid).status_code == 201
    resp = put(client, photo(seed=2), aid=aid, headers={"Accept-Language": "en"})
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "attachment_id_reused"
    assert resp.get_json()["error"]["errors"][0]["path"] == "attachment_id"
    assert client.get(f"/api/v1/attachments/{aid}").data == photo(seed=1)


def _truncated(content_type: str) -> bytes:
    data = photo(content_type, size=(64, 64))
    return data[: len(data) * 2 // 3]


HOSTILE = {
    "png bytes claimed as jpeg": (photo("image/png"), "image/jpeg", 415, "attachment_content"),
    "jpeg bytes claimed as webp": (photo("image/jpeg"), "image/webp", 415, "attachment_content"),
    "a truncated jpeg": (_truncated("image/jpeg"), "image/jpeg", 415, "attachment_content"),
    "a truncated png": (_truncated("image/png"), "image/png", 415, "attachment_content"),
    "a truncated webp": (_truncated("image/webp"), "image/webp", 415, "attachment_content"),
    "an empty body": (b"", "image/jpeg", 415, "attachment_content"),
    "an svg (scripts in an image)": (
        b'<svg xmlns="http://www.w3.org/2000/svg"/>',
        "image/svg+xml",
        415,
        "attachment_type",
    ),
    "a gif": (b"GIF89a" + b"\x00" * 64, "image/gif", 415, "attachment_type"),
    "json": (b"{}", "application/json", 415, "attachment_type"),
    "html claimed as jpeg": (
        b"<html><script>alert(1)</script></html>",
        "image/jpeg",
        415,
        "attachment_content",
    ),
    "no content type": (photo("image/jpeg"), "", 415, "attachment_type"),
    "over 5 MiB": (b"\xff\xd8\xff" + b"\x00" * (5 * 1024 * 1024), "image/jpeg", 413, "attachment_too_large"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_uploads_get_their_4xx_in_both_languages_and_store_nothing(
    client: FlaskClient, case: str
) -> None:
    data, content_type, status, code = HOSTILE[case]
    for language in ("zh-CN", "en"):
        resp = put(client, data, content_type, headers={"Accept-Language": language})
        assert resp.status_code == status, (case, resp.get_json())
        error = resp.get_json()["error"]
        assert error["code"] == code and error["message"]
        assert resp.headers["Content-Language"] == language
    assert _count(client.application, attachments) == 0


def test_an_id_that_is_not_a_uuid_is_refused_at_its_path(client: FlaskClient) -> None:
    for bad in (
        "not-a-uuid",
        "5b0c7f5e1d2a4c3b9e8f7a6b5c4d3e2f",
        "../../etc/passwd".replace("/", "%2F"),
        "x" * 300,
    ):
        resp = put(client, photo(), aid=bad)
        assert resp.status_code in (404, 422), (bad, resp.status_code)
        if resp.status_code == 422:
            assert resp.get_json()["error"]["errors"][0]["path"] == "attachment_id"
    assert client.get("/api/v1/attachments/not-a-uuid").status_code == 404
    assert (
        client.get(f"/api/v1/attachments/{uuid.uuid4()}").get_json()["error"]["code"]
        == "attachment_not_found"
    )
    assert _count(client.application, attachments) == 0


def test_a_survey_link_and_a_reviewer_cannot_upload(client: FlaskClient) -> None:
    app = client.application
    link = _token(app, "yk-link", ["survey"], ["330784"], kind="link")
    reviewer = _token(app, "yk-bureau", ["reviewer"], ["330784"], kind="api")
    for token in (link, reviewer):
        assert put(client, photo(), headers=_as(token)).status_code == 403
    assert put(client, photo(), headers={"Authorization": "Bearer nonsense"}).status_code == 401
    assert _count(app, attachments) == 0


# --- records naming photos ----------------------------------------------------------------------------------


def test_an_inspection_names_its_hazards_photos_and_the_event_carries_references_not_bytes(
    client: FlaskClient,
) -> None:
    app = client.application
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for n, aid in enumerate(ids):
        assert put(client, photo(seed=n), aid=aid).status_code == 201
    body = _with_photos(inspection(failed=FAILED), {3: ids[:2], 4: [ids[2]]})
    resp = client.post("/api/v1/submissions", json=body)
    assert resp.status_code == 201, resp.get_json()
    refs = [
        {
            "attachment_id": aid,
            "sha256": hashlib.sha256(photo(seed=n)).hexdigest(),
            "content_type": "image/jpeg",
        }
        for n, aid in enumerate(ids)
    ]
    hazards = resp.get_json()["computed"]["hazards"]
    assert [h["photos"] for h in hazards] == [refs[:2], refs[2:]]
    [event] = _events(app)
    assert event["data"]["items"][3]["hazard"]["photos"] == ids[:2]
    assert [h["photos"] for h in event["computed"]["hazards"]] == [refs[:2], refs[2:]]
    raw = json.dumps(event)
    assert "base64" not in raw and len(raw) < 5000  # references only: the photos are ~1 KB each
    # a retry is a retry: the same receipt, stored once, the links once
    again = client.post("/api/v1/submissions", json=body)
    assert (again.status_code, again.get_json()) == (200, resp.get_json())
    assert (_count(app, submissions), _count(app, submission_attachments), _count(app, outbox)) == (1, 3, 1)


def test_an_unknown_photo_is_refused_at_its_path_and_nothing_is_written(client: FlaskClient) -> None:
    app = client.application
    mine = str(uuid.uuid4())
    assert put(client, photo(), aid=mine).status_code == 201
    unknown = str(uuid.uuid4())
    body = _with_photos(inspection(failed=FAILED), {3: [mine, unknown]})
    resp = client.post("/api/v1/submissions", json=body, headers={"Accept-Language": "en"})
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    assert error["code"] == "unknown_attachment"
    assert error["errors"] == [
        {"path": "data.items[3].hazard.photos[1]", "code": "unknown_attachment", "message": error["message"]}
    ]
    assert unknown in error["message"]
    assert (_count(app, submissions), _count(app, submission_attachments), _count(app, outbox)) == (0, 0, 0)


def test_photo_lists_are_checked_by_the_form(client: FlaskClient) -> None:
    ids = [str(uuid.uuid4()) for _ in range(6)]
    cases: dict[str, tuple[list[Any], str, str]] = {
        "six": (ids, "data.items[3].hazard.photos", "length"),
        "empty": ([], "data.items[3].hazard.photos", "length"),
        "twice": ([ids[0], ids[0]], "data.items[3].hazard.photos[1]", "duplicate"),
        "not a uuid": (["photo-1.jpg"], "data.items[3].hazard.photos[0]", "invalid_format"),
        "bytes inline": ([{"data": "/9j/4AAQ"}], "data.items[3].hazard.photos[0]", "invalid_type"),
    }
    for name, (photos, path, code) in cases.items():
        body = _with_photos(inspection(failed=FAILED), {3: photos})
        resp = client.post("/api/v1/submissions", json=body)
        assert resp.status_code == 422, name
        assert (path, code) in {(e["path"], e["code"]) for e in resp.get_json()["error"]["errors"]}, name
    # a passed item has no hazard, so no photos either
    body = inspection()
    body["data"]["items"][0]["photos"] = [ids[0]]
    assert client.post("/api/v1/submissions", json=body).status_code == 422


def test_a_rectification_carries_after_photos_beside_the_before_ones(client: FlaskClient) -> None:
    before, after = str(uuid.uuid4()), str(uuid.uuid4())
    assert put(client, photo(seed=1), aid=before).status_code == 201
    assert put(client, photo("image/webp", seed=2), "image/webp", aid=after).status_code == 201
    found = _with_photos(inspection(failed=FAILED), {3: [before]})
    assert client.post("/api/v1/submissions", json=found).status_code == 201
    fix = rectification(found["submission_id"], "DUST-01")
    fix["data"]["photos"] = [after]
    resp = client.post("/api/v1/submissions", json=fix)
    assert resp.status_code == 201, resp.get_json()
    computed = resp.get_json()["computed"]
    assert [p["attachment_id"] for p in computed["photos"]] == [after]
    assert computed["photos"][0]["content_type"] == "image/webp"
    assert [p["attachment_id"] for p in computed["hazard"]["photos"]] == [
        before
    ]  # as the inspection found it


def test_someone_elses_photo_can_be_neither_named_nor_read(client: FlaskClient) -> None:
    app = client.application
    alice = _token(app, "yk-phone-a", ["collector"], ["330784"])
    bob = _token(app, "yk-phone-b", ["collector"], ["330784"])
    yongkang = _token(app, "yk-bureau", ["reviewer"], ["330784"], kind="api")
    jinhua = _token(app, "jh-bureau", ["reviewer"], ["330700"], kind="api")
    hangzhou = _token(app, "hz-bureau", ["reviewer"], ["330100"], kind="api")
    aid = str(uuid.uuid4())
    assert put(client, photo(), aid=aid, headers=_as(alice)).status_code == 201
    url = f"/api/v1/attachments/{aid}"

    # before any record names it, only its uploader reads it
    assert client.get(url, headers=_as(alice)).status_code == 200
    for token in (bob, yongkang):
        assert client.get(url, headers=_as(token)).status_code == 403
    # bob cannot overwrite it, nor name it in his records
    assert put(client, photo(), aid=aid, headers=_as(bob)).status_code == 409
    body = _with_photos(inspection(failed=FAILED), {3: [aid]})
    resp = client.post("/api/v1/submissions", json=body, headers=_as(bob))
    assert resp.status_code == 422
    assert resp.get_json()["error"]["errors"][0]["path"] == "data.items[3].hazard.photos[0]"
    assert _count(app, submissions) == 0

    # alice names it in a Yongkang record: the readers of Yongkang (and above) may now see it, others not
    assert client.post("/api/v1/submissions", json=body, headers=_as(alice)).status_code == 201
    for token in (yongkang, jinhua):
        assert client.get(url, headers=_as(token)).data == photo()
    for token in (bob, hangzhou):
        assert client.get(url, headers=_as(token)).status_code == 403


def test_a_batch_refuses_only_the_item_naming_an_unknown_photo(client: FlaskClient) -> None:
    app = client.application
    mine = str(uuid.uuid4())
    assert put(client, photo(), aid=mine).status_code == 201
    good = _with_photos(inspection(failed=FAILED, enterprise=2), {3: [mine]})
    bad = _with_photos(inspection(failed=FAILED, enterprise=3), {4: [str(uuid.uuid4())]})
    plain = inspection(enterprise=4)
    resp = client.post("/api/v1/submissions/batch", json={"submissions": [good, bad, plain]})
    assert resp.status_code == 207
    results = resp.get_json()["results"]
    assert [r["status"] for r in results] == [201, 422, 201]
    assert results[1]["error"]["errors"][0]["path"] == "data.items[4].hazard.photos[0]"
    assert results[0]["receipt"]["computed"]["hazards"][0]["photos"][0]["attachment_id"] == mine
    assert (_count(app, submissions), _count(app, submission_attachments)) == (2, 1)


def test_racing_retries_of_one_upload_store_it_once(client: FlaskClient) -> None:
    app = client.application
    aid, data = str(uuid.uuid4()), photo(seed=5)
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def upload() -> None:
        with app.test_client() as c:
            barrier.wait()
            statuses.append(put(c, data, aid=aid).status_code)

    threads = [threading.Thread(target=upload) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 5 + [201]
    assert _count(app, attachments) == 1


def test_the_size_and_type_limits_are_settings(intake_settings: Settings) -> None:
    narrow = replace(intake_settings, attachment_max_bytes=200, attachment_types="image/png")
    access = access_bootstrap(narrow)
    app = authorize(create_app(narrow, bootstrap(narrow, clock=lambda: NOW), access), operator_token(access))
    client = app.test_client()
    small = photo("image/png", size=(8, 8))
    assert put(client, small, "image/png").status_code == 201
    assert put(client, photo("image/jpeg"), "image/jpeg").get_json()["error"]["code"] == "attachment_type"
    big = photo("image/png", size=(400, 400))
    assert len(small) <= 200 < len(big)
    resp = put(client, big, "image/png", headers={"Accept-Language": "en"})
    assert resp.status_code == 413 and "200" in resp.get_json()["error"]["message"]
    with pytest.raises(ConfigError, match="SCORE_ATTACHMENT_TYPES"):
        bootstrap(replace(intake_settings, attachment_types="image/png,image/gif"))
