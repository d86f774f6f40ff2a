"""The field app's server side: public shells under a strict policy, the contracts and layouts as published,
and a device's view of its own records only."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from services.access import bootstrap as access_bootstrap
from services.common.config import Settings
from services.intake.bootstrap import bootstrap as intake_bootstrap
from services.intake.entrypoints.app import create_app
from tests.builders import NOW, inspection

ROOT = Path(__file__).resolve().parents[2]


def _app(settings: Settings) -> tuple[Any, Any]:
    access = access_bootstrap(settings)
    app = create_app(settings, intake_bootstrap(settings, clock=lambda: NOW), access)
    app.config["TESTING"] = True
    return app, access


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_pages_are_public_and_run_only_their_own_nonced_local_code(intake_settings: Settings) -> None:
    app, _ = _app(intake_settings)
    client = app.test_client()
    for page in ("/app/", "/survey"):
        resp = client.get(page)
        assert resp.status_code == 200, page
        assert resp.mimetype == "text/html"
        csp = resp.headers["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        nonce = re.search(r"'nonce-([^']+)'", directives["script-src"]).group(1)  # type: ignore[union-attr]
        assert directives["default-src"] == "'none'"
        assert directives["script-src"] == f"'nonce-{nonce}'"  # no 'unsafe-inline', no host
        assert directives["style-src"] == f"'nonce-{nonce}'"
        assert directives["worker-src"] == "'self'"
        assert directives["img-src"] == "'self' blob:"
        html = resp.get_data(as_text=True)
        scripts = re.findall(r"<script[^>]*>", html)
        styles = re.findall(r"<link[^>]*stylesheet[^>]*>", html)
        assert scripts and styles
        for tag in scripts + styles:
            assert f'nonce="{nonce}"' in tag, tag
            assert re.search(r'(src|href)="/static/build/[a-z]+\.(js|css)"', tag), tag  # served here, no CDN
        assert "style=" not in html and "onclick" not in html
    # an API answer keeps the base policy: the widening is the pages' alone
    assert "worker-src" not in client.get("/api/v1/forms").headers["Content-Security-Policy"]


def test_the_published_contracts_and_layouts_are_served_as_they_are(intake_settings: Settings) -> None:
    client = _app(intake_settings)[0].test_client()
    forms = client.get("/api/v1/forms").get_json()["forms"]
    assert {f["form"] for f in forms} == {"factory_inspection", "hazard_rectification", "worker_survey"}
    for f in forms:
        for kind, folder in (("schema", "forms"), ("layout", "layouts")):
            name = f"{f['form']}.v{max(f['versions'])}.{kind}.json"
            resp = client.get(f"/app/forms/{name}")
            assert resp.status_code == 200, name
            assert resp.get_json() == json.loads(
                (ROOT / "schemas" / folder / name).read_text(encoding="utf-8")
            )
    for missing in (
        "factory_inspection.v9.schema.json",
        "nosuch.v1.layout.json",
        "..%2Fpyproject.toml",
        "x.json",
    ):
        assert client.get(f"/app/forms/{missing}").status_code == 404, missing
    codes = client.get("/app/codes.json").get_json()
    assert {
        "code": "330784",
        "zh": "永康市",
        "en": "Yongkang",
        "parent": "330700",
        "level": "county",
    } in codes["districts"]
    assert "330103" not in {d["code"] for d in codes["districts"]}  # retired: not offered
    messages = client.get("/app/messages.json").get_json()["messages"]
    assert messages["personal_data"]["zh"].startswith("不得包含个人信息")


def test_a_device_learns_its_districts_and_the_state_of_its_own_records_only(
    intake_settings: Settings,
) -> None:
    app, access = _app(intake_settings)
    client = app.test_client()
    device = access.issue("yk-phone-1", ["collector"], ["330784"], kind="device", created_by="tests").token
    other = access.issue("yk-phone-2", ["collector"], ["330700"], kind="device", created_by="tests").token
    link = access.issue("survey-yk", ["survey"], ["330784"], kind="link", campaign="yk", created_by="t").token

    assert client.get("/app/me").status_code == 401
    assert client.get("/app/me", headers=_bearer(device)).get_json() == {
        "account": "yk-phone-1",
        "kind": "device",
        "districts": ["330784"],
    }
    jinhua = client.get("/app/me", headers=_bearer(other)).get_json()["districts"]
    assert "330700" in jinhua and "330784" in jinhua and "330100" not in jinhua
    assert client.get("/app/me", headers=_bearer(link)).get_json()["districts"] == ["330784"]

    mine = inspection(day=NOW.date())
    theirs = inspection(day=NOW.date(), enterprise=2)
    assert client.post("/api/v1/submissions", json=mine, headers=_bearer(device)).status_code == 201
    assert client.post("/api/v1/submissions", json=theirs, headers=_bearer(other)).status_code == 201
    unknown = str(uuid.uuid4())
    ids = ",".join([mine["submission_id"], theirs["submission_id"], unknown.upper()])
    answer = client.get(f"/app/records?ids={ids}", headers=_bearer(device)).get_json()["records"]
    assert answer[0]["found"] is True and answer[0]["review"]["status"] == "pending" and answer[0]["current"]
    assert answer[1] == {"submission_id": theirs["submission_id"], "found": False}  # not this account's
    assert answer[2] == {"submission_id": unknown, "found": False}
    assert "data" not in answer[0]  # a state, not the record
    too_many = ",".join(str(uuid.uuid4()) for _ in range(101))
    assert client.get(f"/app/records?ids={too_many}", headers=_bearer(device)).status_code == 400
    assert (
        client.get("/app/records?ids=nope", headers=_bearer(device)).get_json()["error"]["errors"][0]["path"]
        == "ids"
    )
    assert client.get("/app/records?ids=", headers=_bearer(device)).get_json() == {"records": []}
