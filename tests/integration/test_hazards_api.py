"""The open hazards of a device's districts (``GET /api/v1/hazards``), on SQLite and on PostgreSQL: the same
rules as a rectification's (the hazard exists on the inspection's newest version; one counting rectification
per hazard), so what the list calls open is exactly what a rectification may still close."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from services.access import AccessStore
from tests.builders import credit_code, inspection, rectification

YONGKANG = [
    ("DUST-01", "dust_explosion", "major", "2026-12-20"),
    ("ELEC-01", "electrical", "general", "2026-11-22"),
]


def _token(app: Flask, name: str, roles: list[str], districts: list[str], kind: str = "device") -> str:
    store: AccessStore = app.extensions["score.access"]
    return store.issue(name, roles, districts, kind=kind).token


def _hazards(client: FlaskClient, token: str, status: str | None = None) -> list[dict[str, Any]]:
    resp = client.get(
        "/api/v1/hazards" + (f"?status={status}" if status else ""),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 200, resp.get_json()
    listed: list[dict[str, Any]] = resp.get_json()
    return listed


def _post(client: FlaskClient, body: dict[str, Any]) -> None:
    resp = client.post("/api/v1/submissions", json=body)
    assert resp.status_code == 201, resp.get_json()


def _yongkang_dust_rectified(
    client: FlaskClient, enterprise: int
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A Yongkang phone's token, an inspection that found both YONGKANG hazards, and the posted rectification
    of its DUST-01 (ELEC-01 stays open)."""
    phone = _token(client.application, "yk-phone", ["collector"], ["330784"])
    found = inspection(enterprise=enterprise, failed=YONGKANG)
    _post(client, found)
    fix = rectification(found["submission_id"], "DUST-01")
    _post(client, fix)
    return phone, found, fix


def test_a_device_lists_the_open_hazards_of_its_districts_until_each_is_rectified(
    client: FlaskClient,
) -> None:
    app = client.application
    jinhua = _token(app, "jh-phone", ["collector"], ["330700"])
    hangzhou = _token(app, "hz-phone", ["collector"], ["330100"])
    found = inspection(enterprise=11, failed=YONGKANG)
    _post(client, found)
    _post(
        client,
        inspection(district="330106", enterprise=12, failed=[("FIRE-01", "fire", "general", "2026-12-01")]),
    )
    _post(client, inspection(enterprise=13))  # nothing failed: no hazard

    listed = _hazards(client, jinhua)
    sid = found["submission_id"]
    # soonest deadline first: the electrical one is overdue (before today, 2026-11-27), the browser marks it
    assert [h["item_code"] for h in listed] == ["ELEC-01", "DUST-01"]
    assert listed[0] == {
        "hazard_id": f"{sid}:ELEC-01",
        "inspection_id": sid,
        "item_code": "ELEC-01",
        "district": "330784",
        "enterprise": {"credit_code": credit_code(11), "name": "永康五金制品厂 11"},
        "category": "electrical",
        "severity": "general",
        "finding": "electrical hazard at ELEC-01",
        "deadline": "2026-11-22",
        "found_on": "2026-11-20",
        "rectified_on": None,
        "rectification_id": None,
    }
    assert [h["item_code"] for h in _hazards(client, hangzhou)] == ["FIRE-01"]  # only its own districts

    fix = rectification(sid, "ELEC-01", on=date(2026, 11, 21))
    _post(client, fix)
    assert [h["item_code"] for h in _hazards(client, jinhua)] == ["DUST-01"]
    everything = _hazards(client, jinhua, "all")
    assert [(h["item_code"], h["rectified_on"], h["rectification_id"]) for h in everything] == [
        ("DUST-01", None, None),
        ("ELEC-01", "2026-11-21", fix["submission_id"]),
    ]
    # what the list calls rectified, a rectification may no longer close; what it calls open, it may
    again = client.post("/api/v1/submissions", json=rectification(sid, "ELEC-01"))
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_rectified"


def test_a_rejected_rectification_reopens_its_hazard_and_a_rejected_inspection_lists_none(
    client: FlaskClient,
) -> None:
    phone, found, fix = _yongkang_dust_rectified(client, enterprise=21)
    assert [h["item_code"] for h in _hazards(client, phone)] == ["ELEC-01"]
    review = {"status": "rejected", "comment": "照片不清楚"}
    assert client.post(f"/api/v1/submissions/{fix['submission_id']}/review", json=review).status_code == 200
    assert [h["item_code"] for h in _hazards(client, phone)] == ["ELEC-01", "DUST-01"]

    review = {"status": "rejected", "comment": "检查记录作废"}
    assert client.post(f"/api/v1/submissions/{found['submission_id']}/review", json=review).status_code == 200
    assert _hazards(client, phone, "all") == []  # a rejected inspection counts nowhere


def test_a_correction_lists_the_hazards_of_its_newest_version_under_the_same_identity(
    client: FlaskClient,
) -> None:
    phone, found, _ = _yongkang_dust_rectified(client, enterprise=31)
    # the correction keeps DUST-01 (still rectified: the hazard is named by the first version) and drops ELEC-01
    fixed = inspection(enterprise=31, failed=YONGKANG[:1], replaces=found["submission_id"])
    _post(client, fixed)
    assert _hazards(client, phone) == []
    [dust] = _hazards(client, phone, "all")
    assert (dust["inspection_id"], dust["item_code"], dust["rectified_on"]) == (
        fixed["submission_id"],
        "DUST-01",
        "2026-11-25",
    )


def test_only_collectors_list_hazards_and_a_bad_status_is_named(client: FlaskClient) -> None:
    app = client.application
    for roles, kind in ((["reviewer"], "api"), (["survey"], "link")):
        token = _token(app, f"not-{roles[0]}", roles, ["330784"], kind=kind)
        resp = client.get("/api/v1/hazards", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 403
    resp = client.get("/api/v1/hazards", headers={"Authorization": ""})
    assert resp.status_code == 401
    resp = client.get("/api/v1/hazards?status=closed", headers={"Accept-Language": "en"})
    assert resp.status_code == 400
    assert resp.get_json()["error"]["errors"][0]["path"] == "status"
