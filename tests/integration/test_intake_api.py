"""The intake API's promises, on SQLite and on PostgreSQL (``client`` comes from pytest-flask)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import date
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select

from services.access import bootstrap as access_bootstrap
from services.common.config import Settings
from services.eventlog.outbox import outbox
from services.intake.adapters.tables import submissions
from services.intake.bootstrap import bootstrap
from services.intake.entrypoints.app import create_app
from tests.builders import NOW, changed, inspection, rectification, survey
from tests.conftest import authorize, operator_token


def _count(client: FlaskClient, table: Any) -> int:
    engine = client.application.extensions["score.intake"].engine
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_valid_submission_is_stored_with_its_event_and_receipted(client: FlaskClient) -> None:
    body = inspection(failed=[("DUST-01", "dust_explosion", "major", "2026-12-20")])
    resp = client.post("/api/v1/submissions", json=body)
    assert resp.status_code == 201, resp.get_json()
    receipt = resp.get_json()
    assert receipt["submission_id"] == body["submission_id"]
    assert receipt["computed"]["score"] == 75.0  # 3 passed of 4 applicable items, computed by the server
    assert resp.headers["Location"].endswith(body["submission_id"])
    assert (_count(client, submissions), _count(client, outbox)) == (1, 1)


def test_a_retried_submission_is_stored_once_with_the_original_receipt(client: FlaskClient) -> None:
    body = inspection()
    first = client.post("/api/v1/submissions", json=body)
    again = client.post("/api/v1/submissions", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert (_count(client, submissions), _count(client, outbox)) == (1, 1)


def test_the_same_id_with_other_content_is_a_conflict(client: FlaskClient) -> None:
    body = inspection()
    assert client.post("/api/v1/submissions", json=body).status_code == 201
    other = changed(body, "data.enterprise.headcount", 46)
    resp = client.post("/api/v1/submissions", json=other, headers={"Accept-Language": "en"})
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "id_reused"
    assert _count(client, submissions) == 1


def test_retries_racing_each_other_are_stored_once(client: FlaskClient) -> None:
    body = inspection()
    app = client.application
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def post() -> None:
        with app.test_client() as c:
            barrier.wait()
            statuses.append(c.post("/api/v1/submissions", json=body).status_code)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 7 + [201]
    assert (_count(client, submissions), _count(client, outbox)) == (1, 1)


def test_invalid_input_gets_every_error_by_path_and_nothing_is_written(client: FlaskClient) -> None:
    body = changed(inspection(), "data.items.1.result", "broken")
    body = changed(body, "district", "999999")
    resp = client.post("/api/v1/submissions", json=body, headers={"Accept-Language": "en"})
    assert resp.status_code == 422
    paths = {e["path"] for e in resp.get_json()["error"]["errors"]}
    assert {"data.items[1].result", "district"} <= paths
    assert all(e["message"] for e in resp.get_json()["error"]["errors"])
    assert (_count(client, submissions), _count(client, outbox)) == (0, 0)


def test_error_messages_are_chinese_first_and_english_on_request(client: FlaskClient) -> None:
    body = changed(inspection(), "data.items.0.result", "broken")
    zh = client.post("/api/v1/submissions", json=body).get_json()["error"]
    en = client.post("/api/v1/submissions", json=body, headers={"Accept-Language": "en-US"}).get_json()[
        "error"
    ]
    assert zh["errors"][0]["path"] == en["errors"][0]["path"] == "data.items[0].result"
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh["errors"][0]["message"])
    assert en["errors"][0]["message"].isascii()


def test_malformed_json_wrong_type_and_oversize_bodies_get_4xx_not_500(client: FlaskClient) -> None:
    bad_json = client.post("/api/v1/submissions", data=b"{not json", content_type="application/json")
    assert bad_json.status_code == 400
    assert bad_json.get_json()["error"]["code"] == "malformed_json"
    form = client.post("/api/v1/submissions", data=b"a=1", content_type="application/x-www-form-urlencoded")
    assert form.status_code == 415
    huge = client.post(
        "/api/v1/submissions", data=b"[" + b"1," * 600_000 + b"1]", content_type="application/json"
    )
    assert huge.status_code == 413
    not_object = client.post("/api/v1/submissions", json=[1, 2])
    assert not_object.status_code == 422
    assert _count(client, submissions) == 0


def test_a_correction_replaces_the_old_version_which_stays_readable(client: FlaskClient) -> None:
    old = inspection(failed=[("FIRE-01", "fire", "general", "2026-12-01")])
    assert client.post("/api/v1/submissions", json=old).status_code == 201
    new = inspection(replaces=old["submission_id"])
    resp = client.post("/api/v1/submissions", json=new)
    assert resp.status_code == 201, resp.get_json()
    history = client.get(f"/api/v1/submissions/{old['submission_id']}").get_json()
    assert history["current"] is False and history["superseded_by"] == new["submission_id"]
    assert [v["submission_id"] for v in history["versions"]] == [old["submission_id"], new["submission_id"]]
    again = inspection(replaces=old["submission_id"])
    conflict = client.post("/api/v1/submissions", json=again)
    assert conflict.status_code == 409
    assert conflict.get_json()["error"]["code"] == "already_replaced"
    unknown = client.post(
        "/api/v1/submissions", json=inspection(replaces="0b7e6a4e-2f7c-4c86-9d3a-1f4b2c3d4e5f")
    )
    assert unknown.status_code == 422
    assert _count(client, outbox) == 2


def test_review_rules(client: FlaskClient) -> None:
    body = inspection()
    client.post("/api/v1/submissions", json=body)
    url = f"/api/v1/submissions/{body['submission_id']}/review"
    no_comment = client.post(url, json={"status": "rejected", "reviewer": "bureau-yk-01"})
    assert no_comment.status_code == 422
    assert no_comment.get_json()["error"]["errors"][0]["path"] == "comment"
    ok = client.post(url, json={"status": "rejected", "reviewer": "bureau-yk-01", "comment": "照片缺失"})
    assert ok.status_code == 200
    approved = client.post(url, json={"status": "approved", "reviewer": "bureau-yk-01"})
    assert approved.get_json()["review_status"] == "approved"
    state = client.get(f"/api/v1/submissions/{body['submission_id']}").get_json()["review"]
    assert [h["status"] for h in state["history"]] == ["rejected", "approved"]
    assert (
        client.post(
            "/api/v1/submissions/nope/review", json={"status": "approved", "reviewer": "x"}
        ).status_code
        == 404
    )
    assert _count(client, outbox) == 3  # accepted + two reviews


def test_a_rectification_must_name_a_hazard_of_a_received_inspection(client: FlaskClient) -> None:
    insp = inspection(failed=[("ELEC-01", "electrical", "general", "2026-12-05")])
    client.post("/api/v1/submissions", json=insp)
    wrong_item = client.post("/api/v1/submissions", json=rectification(insp["submission_id"], "ELEC-02"))
    assert wrong_item.status_code == 422
    assert wrong_item.get_json()["error"]["errors"][0]["path"] == "data.item_code"
    ok = client.post("/api/v1/submissions", json=rectification(insp["submission_id"], "ELEC-01"))
    assert ok.status_code == 201, ok.get_json()
    assert ok.get_json()["computed"]["hazard"]["severity"] == "general"


def test_a_batch_accepts_and_rejects_each_item_on_its_own(client: FlaskClient) -> None:
    good = [inspection(), survey()]
    bad = changed(inspection(), "data.items.0.result", "maybe")
    resp = client.post("/api/v1/submissions/batch", json={"submissions": [good[0], bad, good[1], good[0]]})
    assert resp.status_code == 207
    result = resp.get_json()
    assert [r["status"] for r in result["results"]] == [201, 422, 201, 200]
    assert (result["accepted"], result["rejected"]) == (3, 1)
    assert _count(client, submissions) == 2
    too_many = client.post("/api/v1/submissions/batch", json={"submissions": [good[0]] * 101})
    assert too_many.status_code == 413


def test_the_forms_are_listed(client: FlaskClient) -> None:
    forms = {f["form"] for f in client.get("/api/v1/forms").get_json()["forms"]}
    assert forms == {"factory_inspection", "hazard_rectification", "worker_survey"}


def test_metrics_show_the_outbox_backlog_when_a_relay_publishes_it(intake_settings: Settings) -> None:
    # Kafka configured (no broker needed: the intake only writes the outbox, the relay runs elsewhere)
    settings = replace(intake_settings, kafka_bootstrap_servers="127.0.0.1:9")
    access = access_bootstrap(settings)
    app = create_app(settings, bootstrap(settings, clock=lambda: NOW), access)
    client = authorize(app, operator_token(access)).test_client()
    before = client.get("/metrics.json").get_json()
    client.post("/api/v1/submissions", json=inspection())
    after = client.get("/metrics.json").get_json()
    assert (before["event_log"], before["backlog"], after["backlog"]) == ("kafka", 0, 1)
    assert after["oldest_unpublished_age_seconds"] is not None


def test_metrics_on_the_embedded_log_report_its_end_not_a_backlog(client: FlaskClient) -> None:
    """No relay on the embedded default: the outbox is the log the aggregator reads, nothing is "stuck"."""
    before = client.get("/metrics.json").get_json()
    for _ in range(2):
        client.post("/api/v1/submissions", json=inspection())
    after = client.get("/metrics.json").get_json()
    assert (before["event_log"], before["last_position"], after["last_position"]) == ("sql", 0, 2)
    for m in (before, after):
        assert (m["backlog"], m["oldest_unpublished_age_seconds"], m["published_total"]) == (None, None, None)
        assert "outbox is the event log" in m["note"]


def test_every_response_carries_the_request_id(client: FlaskClient) -> None:
    mine = client.get("/api/v1/forms", headers={"X-Request-ID": "phone-7-attempt-3"})
    assert mine.headers["X-Request-ID"] == "phone-7-attempt-3"
    assert len(client.get("/healthz").headers["X-Request-ID"]) == 32


def test_a_correction_of_the_credit_code_keeps_its_lineage_on_one_key(client: FlaskClient) -> None:
    old = inspection(enterprise=1, failed=[("FIRE-02", "fire", "general", "2026-12-01")])
    client.post("/api/v1/submissions", json=old)
    fixed = inspection(enterprise=2, replaces=old["submission_id"])  # the credit code was mistyped
    assert client.post("/api/v1/submissions", json=fixed).status_code == 201
    client.post(
        f"/api/v1/submissions/{fixed['submission_id']}/review",
        json={"status": "approved", "reviewer": "bureau-1"},
    )
    engine = client.application.extensions["score.intake"].engine
    with engine.connect() as conn:
        keys = [r.key for r in conn.execute(select(outbox.c.key).order_by(outbox.c.position))]
    # accepted, corrected, reviewed: all under the first version's key, so they reach consumers in order
    assert keys == [old["data"]["enterprise"]["credit_code"]] * 3
    # the correction removed the fire hazard, so a rectification of it is refused
    assert (
        client.post("/api/v1/submissions", json=rectification(old["submission_id"], "FIRE-02")).status_code
        == 422
    )


def test_a_hazard_is_rectified_once_unless_corrected_or_the_first_was_rejected(client: FlaskClient) -> None:
    insp = inspection(failed=[("DUST-02", "dust_explosion", "major", "2026-12-05")])
    client.post("/api/v1/submissions", json=insp)
    first = rectification(insp["submission_id"], "DUST-02")
    assert client.post("/api/v1/submissions", json=first).status_code == 201
    second = client.post("/api/v1/submissions", json=rectification(insp["submission_id"], "DUST-02"))
    assert second.status_code == 409
    assert second.get_json()["error"]["errors"][0] == {
        "path": "data.item_code",
        "code": "already_rectified",
        "message": second.get_json()["error"]["message"],
    }
    fixed = {
        **rectification(insp["submission_id"], "DUST-02", on=date(2026, 11, 26)),
        "replaces": first["submission_id"],
    }
    assert client.post("/api/v1/submissions", json=fixed).status_code == 201  # a correction is fine
    client.post(
        f"/api/v1/submissions/{fixed['submission_id']}/review",
        json={"status": "rejected", "reviewer": "bureau-1", "comment": "照片显示未整改"},
    )
    again = rectification(insp["submission_id"], "DUST-02", on=date(2026, 11, 26))
    assert client.post("/api/v1/submissions", json=again).status_code == 201  # the counting one was rejected
