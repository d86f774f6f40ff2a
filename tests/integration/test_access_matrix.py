"""The permission matrix: every role x every endpoint of both services x own district / below / other.

Each principal is scoped to Jinhua 330700 (a public survey link too: its one district); "below" is Yongkang
330784 inside Jinhua, "other" is Xihu 330106 in Hangzhou.  Four more rows have no usable credential: none,
a made-up one, an expired one and a revoked one.  Every cell is asserted: allowed (the endpoint's success
status), or 401/403 in the API's error shape.  Afterwards nothing any principal wrote is filed in (or
touches) a district outside its scope, and no report it read names one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.access import AccessStore
from services.common.codes import covered
from services.intake.adapters.tables import submissions
from tests.builders import inspection, rectification, survey
from tests.conftest import System, build_system, migrated, sqlite_settings
from tests.images import photo

HOME, BELOW, OTHER = "330700", "330784", "330106"
COLUMNS = {"own": HOME, "below": BELOW, "other": OTHER}
SCOPE = set(covered(HOME))

#: role -> (roles, districts, kind)
PRINCIPALS: dict[str, tuple[list[str], list[str], str]] = {
    "collector": (["collector"], [HOME], "device"),
    "reviewer": (["reviewer"], [HOME], "api"),
    "ministry": (["ministry"], [], "api"),
    "integrator": (["integrator"], [HOME], "api"),
    "admin": (["admin"], [], "api"),
    "survey_link": (["survey"], [HOME], "link"),
}
UNAUTHENTICATED = ("anonymous", "made_up", "expired", "revoked")
ROWS = (*PRINCIPALS, *UNAUTHENTICATED)

ALL, SCOPED, OWN, NONE = {"own", "below", "other"}, {"own", "below"}, {"own"}, set[str]()
READERS = {"reviewer": SCOPED, "integrator": SCOPED, "ministry": ALL}

#: endpoint -> role -> the columns in which it is allowed (roles not named: nowhere)
DISTRICT_ENDPOINTS: dict[str, dict[str, set[str]]] = {
    "submit inspection": {"collector": SCOPED},
    "submit survey": {"collector": SCOPED, "survey_link": OWN},
    "submit survey by link URL": {"survey_link": OWN},
    "batch": {"collector": SCOPED},
    "rectification (touches the column's inspection)": {"collector": SCOPED},
    "correction (replaces the column's inspection)": {"collector": SCOPED},
    "review": {"reviewer": SCOPED},
    "read submission": {"reviewer": SCOPED},
    "read photo (named by a record of the column)": {"reviewer": SCOPED},
    "report": READERS,
    "side by side": READERS,
    "trend": READERS,
    "export csv": READERS,
    "export xlsx": READERS,
    "dashboard page of the district": READERS,
    "dashboard view": READERS,
    "dashboard export csv": READERS,
    "dashboard export xlsx": READERS,
}
#: endpoints without a district: the roles allowed
PLAIN_ENDPOINTS: dict[str, set[str]] = {
    "dashboard": {"reviewer", "integrator", "ministry"},
    "intake metrics": {"admin"},
    "reports metrics": {"admin"},
    "audit log": {"admin"},
    "upload photo": {"collector"},
    "open hazards": {"collector"},
}
PUBLIC_ENDPOINTS = (
    "dashboard script",
    "intake front door",
    "intake healthz",
    "intake openapi",
    "intake docs",
    "forms",
    "reports healthz",
    "reports openapi",
    "district codes",
)


@dataclass
class Matrix:
    system: System
    tokens: dict[str, str | None]
    cells: int = 0


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    system = build_system(migrated(sqlite_settings(Path(tmp_path_factory.mktemp("matrix")))))
    store = system.access
    tokens: dict[str, str | None] = {
        role: store.issue(f"m-{role.replace('_', '-')}", roles, scope, kind=kind).token
        for role, (roles, scope, kind) in PRINCIPALS.items()
    }
    tokens["anonymous"] = None
    tokens["made_up"] = "score_" + "x" * 43
    past = AccessStore(store.engine, clock=lambda: datetime.now(UTC) - timedelta(days=2))
    tokens["expired"] = past.issue(
        "m-expired", ["collector", "reviewer", "admin"], ["330000"], expires_in=timedelta(days=1)
    ).token
    revoked = store.issue("m-revoked", ["collector", "reviewer", "admin"], ["330000"])
    assert store.revoke(revoked.info.id)
    tokens["revoked"] = revoked.token
    yield Matrix(system, tokens)
    system.consumer.close()


def _no_auth(client: Any, method: str, url: str, token: str | None, **kw: Any) -> Any:
    """A request with exactly this credential (none: no Authorization header at all); an explicit header
    replaces the operator credential the shared test clients send by default."""
    if token is None:
        saved = client.environ_base.pop("HTTP_AUTHORIZATION", None)
        try:
            return client.open(url, method=method, **kw)
        finally:
            if saved is not None:
                client.environ_base["HTTP_AUTHORIZATION"] = saved
    return client.open(url, method=method, headers={"Authorization": f"Bearer {token}"}, **kw)


def _seed_inspection(s: System, district: str) -> dict[str, Any]:
    """An inspection with a hazard at ``district``, posted by the operator (who may post anywhere)."""
    body = inspection(
        district=district,
        enterprise=uuid.uuid4().int % 10_000_000,
        failed=[("DUST-01", "dust_explosion", "major", "2026-12-20")],
    )
    resp = s.post(body)
    assert resp.status_code == 201, resp.get_json()
    return body


def _seed_photo(s: System, district: str) -> str:
    """A photo the operator uploaded and named in an inspection filed at ``district``."""
    photo_id = str(uuid.uuid4())
    assert (
        s.client.put(f"/api/v1/attachments/{photo_id}", data=photo(), content_type="image/jpeg").status_code
        == 201
    )
    body = inspection(
        district=district,
        enterprise=uuid.uuid4().int % 10_000_000,
        failed=[("DUST-01", "dust_explosion", "major", "2026-12-20")],
    )
    body["data"]["items"][-1]["hazard"]["photos"] = [photo_id]
    assert s.post(body).status_code == 201
    return photo_id


def _cell_status(resp: Any) -> int:
    """A batch's HTTP status is 207 whatever its items are: the cell is its one item's status."""
    if resp.status_code == 207:
        return int(resp.get_json()["results"][0]["status"])
    return int(resp.status_code)


Call = Callable[[Matrix, str | None, str], Any]


QUARTER = "period=quarter&date=2026-11-27&as_of=2026-11-27"

#: the reads of one district's figures, by row: the URL with ``{d}`` for the district and ``{q}`` for QUARTER
REPORT_READS = {
    "report": "/api/v1/reports/districts/{d}?{q}",
    "side by side": "/api/v1/reports/districts?codes={d}&{q}",
    "trend": "/api/v1/reports/districts/{d}/trend?period=month&count=3",
    "export csv": "/api/v1/reports/districts/{d}?{q}&format=csv",
    "export xlsx": "/api/v1/reports/districts/{d}?{q}&format=xlsx",
    "dashboard page of the district": "/?district={d}&{q}",
    "dashboard view": "/api/v1/dashboard/{d}?{q}&count=2",
    "dashboard export csv": "/api/v1/dashboard/{d}?{q}&count=2&format=csv",
    "dashboard export xlsx": "/api/v1/dashboard/{d}?{q}&count=2&format=xlsx&lang=en",
}


def _district_call(name: str) -> Call:
    def call(m: Matrix, token: str | None, d: str) -> Any:
        s = m.system
        post = lambda url, body, **kw: _no_auth(s.client, "POST", url, token, json=body, **kw)  # noqa: E731
        get = lambda client, url: _no_auth(client, "GET", url, token)  # noqa: E731
        uid = uuid.uuid4().int % 10_000_000
        if name == "submit inspection":
            return post("/api/v1/submissions", inspection(district=d, enterprise=uid))
        if name == "submit survey":
            return post("/api/v1/submissions", survey(district=d, enterprise=uid))
        if name == "submit survey by link URL":
            # the public link as printed: the token on the query string, no header at all
            resp = _no_auth(
                s.client,
                "POST",
                f"/api/v1/submissions?st={token or ''}",
                None,
                json=survey(district=d, enterprise=uid),
            )
            return resp
        if name == "batch":
            return post(
                "/api/v1/submissions/batch", {"submissions": [inspection(district=d, enterprise=uid)]}
            )
        if name.startswith("rectification"):
            seed = _seed_inspection(s, d)
            return post("/api/v1/submissions", rectification(seed["submission_id"], "DUST-01", district=HOME))
        if name.startswith("correction"):
            seed = _seed_inspection(s, d)
            return post(
                "/api/v1/submissions",
                inspection(district=HOME, enterprise=uid, replaces=seed["submission_id"]),
            )
        if name == "review":
            seed = _seed_inspection(s, d)
            return post(f"/api/v1/submissions/{seed['submission_id']}/review", {"status": "approved"})
        if name == "read submission":
            seed = _seed_inspection(s, d)
            return get(s.client, f"/api/v1/submissions/{seed['submission_id']}")
        if name.startswith("read photo"):
            photo_id = _seed_photo(s, d)
            return get(s.client, f"/api/v1/attachments/{photo_id}")
        if name in REPORT_READS:
            return get(s.reports, REPORT_READS[name].format(d=d, q=QUARTER))
        raise AssertionError(name)

    return call


def _plain_call(name: str) -> Callable[[Matrix, str | None], Any]:
    urls = {
        "dashboard": ("reports", "/"),
        "intake metrics": ("intake", "/metrics"),
        "reports metrics": ("reports", "/metrics"),
        "audit log": ("intake", "/api/v1/audit"),
        "open hazards": ("intake", "/api/v1/hazards?status=all"),
        "intake front door": ("intake", "/"),
        "intake healthz": ("intake", "/healthz"),
        "intake openapi": ("intake", "/api/v1/openapi.json"),
        "intake docs": ("intake", "/api/v1/docs"),
        "forms": ("intake", "/api/v1/forms"),
        "reports healthz": ("reports", "/healthz"),
        "reports openapi": ("reports", "/api/v1/openapi.json"),
        "district codes": ("reports", "/api/v1/codes/districts"),
        "dashboard script": ("reports", "/static/build/dashboard.js"),  # no figures in it (make web)
    }
    if name == "upload photo":
        return lambda m, token: _no_auth(
            m.system.client,
            "PUT",
            f"/api/v1/attachments/{uuid.uuid4()}",
            token,
            data=photo(),
            content_type="image/jpeg",
        )
    app, url = urls[name]
    return lambda m, token: _no_auth(
        m.system.client if app == "intake" else m.system.reports, "GET", url, token
    )


def _assert_cell(resp: Any, expected: str | int, where: str) -> None:
    status = _cell_status(resp)
    if expected == "allow":
        assert status in (200, 201), (where, status, resp.get_data(as_text=True)[:300])
        return
    assert status == expected, (where, status, resp.get_data(as_text=True)[:300])
    if resp.mimetype == "text/html":  # the dashboard's refusals are pages: a sign-in form (401) or a notice
        assert (b'name="token"' in resp.data) == (expected == 401), where
        return
    body = resp.get_json()
    error = body["results"][0]["error"] if resp.status_code == 207 else body["error"]
    assert error["code"] and error["message"], where
    if expected == 401:
        assert resp.headers["WWW-Authenticate"].startswith("Bearer"), where


def _expected(row: str, allowed: bool) -> str | int:
    if row in UNAUTHENTICATED:
        return 401
    return "allow" if allowed else 403


def test_every_role_at_every_endpoint_in_every_district(matrix: Matrix) -> None:
    for row in ROWS:
        token = matrix.tokens[row]
        for name, allowed_in in DISTRICT_ENDPOINTS.items():
            call = _district_call(name)
            for column, district in COLUMNS.items():
                if (
                    name == "submit survey by link URL"
                    and row != "survey_link"
                    and row not in UNAUTHENTICATED
                ):
                    # a staff token on the query string is refused as a credential (401): links only
                    expected: str | int = 401
                else:
                    expected = _expected(row, column in allowed_in.get(row, NONE))
                _assert_cell(call(matrix, token, district), expected, f"{row} / {name} / {column}")
                matrix.cells += 1
        for name, roles in PLAIN_ENDPOINTS.items():
            _assert_cell(_plain_call(name)(matrix, token), _expected(row, row in roles), f"{row} / {name}")
            matrix.cells += 1
        for name in PUBLIC_ENDPOINTS:
            resp = _plain_call(name)(matrix, token)
            assert resp.status_code == 200, (row, name, resp.status_code)
            matrix.cells += 1
    expected_cells = len(ROWS) * (
        len(DISTRICT_ENDPOINTS) * len(COLUMNS) + len(PLAIN_ENDPOINTS) + len(PUBLIC_ENDPOINTS)
    )
    assert matrix.cells == expected_cells
    print(f"permission matrix: {matrix.cells} cells asserted ({len(ROWS)} rows)")

    # 0 cross-district writes: whatever a scoped principal stored is filed in, and touches, its scope only
    with matrix.system.intake.engine.connect() as conn:
        rows = [
            {**r, "collector": json.loads(r["collector"]), "data": json.loads(r["data"])}
            for r in conn.execute(select(submissions)).mappings()
        ]
    by_id = {r["id"]: r for r in rows}
    matrix_names = {f"m-{role.replace('_', '-')}" for role in PRINCIPALS}
    written = [r for r in rows if r["collector"]["id"] in matrix_names]
    assert written, "the matrix wrote nothing: its allowed cells did not reach the database"
    for r in written:
        assert r["district"] in SCOPE, (r["collector"], r["district"])
        if r["replaces"]:
            assert by_id[r["replaces"]]["district"] in SCOPE
        if r["form"] == "hazard_rectification":
            assert by_id[r["data"]["inspection_id"]]["district"] in SCOPE


def test_no_report_a_scoped_reader_gets_names_a_district_outside_its_scope(matrix: Matrix) -> None:
    s = matrix.system
    for role in ("reviewer", "integrator"):
        token = matrix.tokens[role]
        for url in (
            "/api/v1/reports/districts",  # no codes: the defaults it may read
            f"/api/v1/reports/districts/{HOME}",
            f"/api/v1/reports/districts?codes={HOME},{BELOW}",
        ):
            body = _no_auth(s.reports, "GET", url, token).get_json()
            reports = body.get("reports", [body])
            assert reports and {r["district"]["code"] for r in reports} <= SCOPE, (role, url)
        page = _no_auth(s.reports, "GET", "/", token)
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "330784" in text and "330700" in text
        assert "330100" not in text and "330000" not in text, role  # Hangzhou, Zhejiang: not in its scope
        view = _no_auth(s.reports, "GET", f"/api/v1/dashboard/{HOME}?count=2", token).get_json()
        named = {r["district"]["code"] for k in ("summary",) for r in [view[k]]}
        named |= {
            r["district"]["code"] for k in ("comparison", "children", "trend", "industries") for r in view[k]
        }
        named |= {c["code"] for c in view["breadcrumb"]}
        assert named and named <= SCOPE, (role, named)
        # a batch of codes with one outside its scope is refused whole
        assert (
            _no_auth(s.reports, "GET", f"/api/v1/reports/districts?codes={HOME},{OTHER}", token).status_code
            == 403
        )


def test_a_device_lists_the_hazards_of_its_districts_only(matrix: Matrix) -> None:
    s = matrix.system
    seeded = {column: _seed_inspection(s, d)["submission_id"] for column, d in COLUMNS.items()}
    listed = _no_auth(s.client, "GET", "/api/v1/hazards?status=all", matrix.tokens["collector"]).get_json()
    inspections = {h["inspection_id"] for h in listed}
    assert {seeded["own"], seeded["below"]} <= inspections
    assert seeded["other"] not in inspections
    assert listed and {h["district"] for h in listed} <= SCOPE
