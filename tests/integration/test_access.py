"""Credentials, identity, the audit log, abuse limits and the dashboard's sign-in (services/access)."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.exc import DBAPIError

from services.access import AccessStore
from services.access.tables import audit_log
from services.cli import _first_start, main
from services.common.config import Settings, from_env
from services.common.db import make_engine
from services.eventlog.outbox import outbox
from services.intake.adapters.tables import submissions
from tests.builders import inspection, rectification, survey
from tests.conftest import System, build_system, migrated, sqlite_settings

HAZARD = [("DUST-01", "dust_explosion", "major", "2026-12-20")]


@pytest.fixture
def s(tmp_path: Path) -> System:
    return build_system(migrated(sqlite_settings(tmp_path)))


def _as(client: FlaskClient, method: str, url: str, token: str | None, **kw: Any) -> Any:
    """A request with exactly this credential (None: without any)."""
    if token is None:
        saved = client.environ_base.pop("HTTP_AUTHORIZATION", None)
        try:
            return client.open(url, method=method, **kw)
        finally:
            if saved is not None:
                client.environ_base["HTTP_AUTHORIZATION"] = saved
    headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
    return client.open(url, method=method, headers=headers, **kw)


def _audit_counts(store: AccessStore) -> Counter[str]:
    return Counter(e["action"] for e in store.audit(limit=100000))


# -- credentials ---------------------------------------------------------------------------------------------


def test_expired_and_revoked_tokens_are_refused(s: System) -> None:
    good = s.access.issue("yk-aj-0217", ["collector"], ["330784"], kind="device")
    assert _as(s.client, "POST", "/api/v1/submissions", good.token, json=inspection()).status_code == 201

    assert s.access.revoke(good.info.id)
    assert not s.access.revoke(good.info.id)  # once
    revoked = _as(
        s.client,
        "POST",
        "/api/v1/submissions",
        good.token,
        json=inspection(),
        headers={"Accept-Language": "en"},
    )
    assert revoked.status_code == 401
    assert revoked.get_json()["error"] == {"code": "invalid_token", "message": "the credential was revoked"}
    assert revoked.headers["WWW-Authenticate"] == 'Bearer realm="score", error="invalid_token"'

    issued_yesterday = AccessStore(s.access.engine, clock=lambda: datetime.now(UTC) - timedelta(days=1))
    old = issued_yesterday.issue("yk-aj-0218", ["collector"], ["330784"], expires_in=timedelta(hours=23))
    expired = _as(s.client, "POST", "/api/v1/submissions", old.token, json=inspection())
    assert expired.status_code == 401
    assert expired.get_json()["error"]["message"] == "凭证已过期"  # Chinese unless English is asked for
    for bad in ("", "Bearer", "Basic dXNlcjpwYXNz", "Bearer score_nope", f"Bearer {good.token[:-1]}"):
        resp = s.client.post("/api/v1/submissions", json=inspection(), headers={"Authorization": bad})
        assert resp.status_code == 401, bad
    with s.intake.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(submissions)).scalar_one() == 1


def test_the_database_holds_hashes_only(s: System) -> None:
    issued = [
        s.access.issue("jinhua-bureau", ["reviewer"], ["330700"]),
        s.access.issue("yk-phone-7", ["collector"], ["330784"], kind="device"),
        s.access.issue("survey-yk", ["survey"], ["330784"], kind="link", campaign="yk"),
    ]
    dump = _dump(s.access.engine)
    for i in issued:
        assert i.token.startswith("score_") and len(i.token) >= 40  # 256 random bits, URL-safe
        assert i.token not in dump and i.token[6:] not in dump and i.token[-20:] not in dump
        assert hashlib.sha256(i.token.encode()).hexdigest() in dump
    assert len({i.token for i in issued}) == 3


def _dump(engine: Engine) -> str:
    """Every value of every table of the database, as text."""
    out = []
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                out.append(repr(tuple(row)))
    return "\n".join(out)


def test_a_token_is_refused_outside_its_form_and_district_and_a_public_link_posts_surveys_only(
    s: System,
) -> None:
    link = s.access.issue("survey-yk-2026q4", ["survey"], ["330784"], kind="link", campaign="yk-2026q4").token
    url = f"/api/v1/submissions?st={link}"
    assert _as(s.client, "POST", url, None, json=survey()).status_code == 201
    assert (
        _as(s.client, "POST", "/api/v1/submissions", link, json=survey()).status_code == 201
    )  # as a header too
    other = _as(
        s.client, "POST", url, None, json=survey(district="330782"), headers={"Accept-Language": "en"}
    )
    assert other.status_code == 403
    assert other.get_json()["error"]["errors"][0]["path"] == "district"
    form = _as(s.client, "POST", url, None, json=inspection())
    assert form.status_code == 403 and form.get_json()["error"]["code"] == "form_not_allowed"
    stored = s.post(inspection()).get_json()["submission_id"]
    for method, path, body in (
        ("GET", f"/api/v1/submissions/{stored}", None),
        ("POST", f"/api/v1/submissions/{stored}/review", {"status": "approved"}),
        ("GET", "/api/v1/audit", None),
    ):
        assert _as(s.client, method, path, link, json=body).status_code == 403, path
    assert _as(s.reports, "GET", "/api/v1/reports/districts/330784", link).status_code == 403
    # a staff token is not taken from the query string (it would end up in logs and browser histories)
    staff = s.access.issue("yk-aj-1", ["collector"], ["330784"]).token
    refused = _as(s.client, "POST", f"/api/v1/submissions?st={staff}", None, json=survey())
    assert refused.status_code == 401


def test_a_rectification_or_correction_is_checked_against_the_district_it_touches(s: System) -> None:
    """The issue's case: a rectification filed under 330106 for a Yongkang inspection was accepted."""
    yongkang = inspection(district="330784", failed=HAZARD)
    assert s.post(yongkang).status_code == 201
    hangzhou = s.access.issue("hz-aj-01", ["collector"], ["330100"]).token
    rect = _as(
        s.client,
        "POST",
        "/api/v1/submissions",
        hangzhou,
        json=rectification(yongkang["submission_id"], "DUST-01", district="330106"),
    )
    assert rect.status_code == 403
    assert rect.get_json()["error"]["errors"][0]["path"] == "data.inspection_id"
    corr = _as(
        s.client,
        "POST",
        "/api/v1/submissions",
        hangzhou,
        json=inspection(district="330106", replaces=yongkang["submission_id"]),
    )
    assert corr.status_code == 403
    assert corr.get_json()["error"]["errors"][0]["path"] == "replaces"
    # the Yongkang collector may do both
    yk = s.access.issue("yk-aj-02", ["collector"], ["330784"]).token
    ok = _as(
        s.client, "POST", "/api/v1/submissions", yk, json=rectification(yongkang["submission_id"], "DUST-01")
    )
    assert ok.status_code == 201, ok.get_json()
    with s.intake.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(submissions)).scalar_one() == 2


# -- identity and what may be read -----------------------------------------------------------------------------


def test_the_collector_and_the_reviewer_are_the_credentials_accounts_not_the_bodys(s: System) -> None:
    phone = s.access.issue("yk-phone-7", ["collector"], ["330784"], kind="device").token
    body = inspection()
    body["collector"] = {"id": "somebody-else", "role": "inspector"}
    assert _as(s.client, "POST", "/api/v1/submissions", phone, json=body).status_code == 201
    bureau = s.access.issue("yk-bureau-3", ["reviewer"], ["330784"]).token
    sid = body["submission_id"]
    resp = _as(
        s.client,
        "POST",
        f"/api/v1/submissions/{sid}/review",
        bureau,
        json={"status": "approved", "reviewer": "impostor"},
    )
    assert resp.status_code == 200
    shown = _as(s.client, "GET", f"/api/v1/submissions/{sid}", bureau).get_json()
    assert shown["collector"] == {"id": "yk-phone-7", "role": "inspector"}
    assert shown["review"]["reviewer"] == "yk-bureau-3"
    with s.intake.engine.connect() as conn:
        events = [json.loads(r.data) for r in conn.execute(select(outbox).order_by(outbox.c.position))]
    assert events[0]["collector"]["id"] == "yk-phone-7"
    assert events[1]["reviewer"] == "yk-bureau-3"
    assert "somebody-else" not in repr(events) and "impostor" not in repr(events)


def test_raw_survey_answers_are_readable_by_no_one(s: System) -> None:
    body = survey(climate=2, cooperation=5)
    assert s.post(body).status_code == 201
    bureau = s.access.issue("yk-bureau", ["reviewer"], ["330784"]).token
    for token in (s.token, bureau):  # the operator may do everything else; a reviewer of the district
        resp = _as(s.client, "GET", f"/api/v1/submissions/{body['submission_id']}", token)
        assert resp.status_code == 200
        shown = resp.get_json()
        assert shown["answers_withheld"] is True and "data" not in shown and "computed" not in shown
        assert shown["form"] == "worker_survey" and shown["district"] == "330784"
        raw = resp.get_data(as_text=True)
        assert body["data"]["enterprise_credit_code"] not in raw and "safety_climate" not in raw
    assert (
        "data"
        in s.client.get(f"/api/v1/submissions/{s.post(inspection()).get_json()['submission_id']}").get_json()
    )


# -- audit log -------------------------------------------------------------------------------------------------


def test_each_audited_action_writes_exactly_one_entry(s: System) -> None:
    store = s.access

    def once(action: str, do: Any) -> Any:
        before = _audit_counts(store)
        result = do()
        after = _audit_counts(store)
        assert after - before == Counter({action: 1}), (action, after - before)
        return result

    def nothing(do: Any) -> None:
        before = _audit_counts(store)
        do()
        assert _audit_counts(store) == before

    first = inspection(failed=HAZARD)
    once("submission.create", lambda: s.post(first))
    nothing(lambda: s.post(first))  # a retry stores nothing new and records nothing new
    once("submission.create", lambda: s.post(survey()))
    nothing(lambda: s.post(inspection(district="999999")))  # refused: nothing happened
    fixed = inspection(failed=HAZARD, replaces=first["submission_id"])
    once("submission.correct", lambda: s.post(fixed))
    once("rectification.create", lambda: s.post(rectification(fixed["submission_id"], "DUST-01")))
    review = {"status": "approved", "review_id": "6f1c3a52-3b7e-4c55-9d8e-0b7a1f2e3d4c"}
    url = f"/api/v1/submissions/{fixed['submission_id']}/review"
    once("review.create", lambda: s.client.post(url, json=review))
    nothing(lambda: s.client.post(url, json=review))  # a replayed review
    nothing(lambda: s.client.post("/api/v1/submissions/batch", json={"submissions": [first]}))
    once(
        "submission.create",
        lambda: s.client.post("/api/v1/submissions/batch", json={"submissions": [inspection()]}),
    )
    q = "/api/v1/reports/districts/330784?period=quarter&date=2026-11-27"
    once("report.export", lambda: s.reports.get(q + "&format=csv"))
    once("report.export", lambda: s.reports.get(q + "&format=xlsx"))
    nothing(lambda: s.reports.get(q))  # a bureau's (the operator's) own reads are not audited
    integrator = store.issue("provincial-bi", ["integrator"], ["330700"]).token
    once("report.read", lambda: _as(s.reports, "GET", q, integrator))
    once(
        "report.read",
        lambda: _as(s.reports, "GET", "/api/v1/reports/districts?codes=330700,330784", integrator),
    )
    nothing(lambda: _as(s.reports, "GET", "/api/v1/reports/districts/330106", integrator))  # refused
    issued = once("token.create", lambda: store.issue("x-1", ["ministry"]))
    once("token.revoke", lambda: store.revoke(issued.info.id))
    once("session.login", lambda: s.reports.post("/signin", data={"token": s.token}))

    entry = store.audit(action="rectification.create")[0]
    assert entry["actor"] == "test-operator" and entry["district"] == "330784"
    assert entry["address"] == "127.0.0.1" and entry["request_id"] and entry["token_id"]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_audit_log_refuses_update_and_delete_in_the_database(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        settings = migrated(sqlite_settings(tmp_path))
    else:
        from tests.conftest import unique

        url = request.getfixturevalue("postgres_server").fresh_database(unique("audit"))
        settings = migrated(replace(sqlite_settings(tmp_path), access_database_url=url))
    store = AccessStore(make_engine(settings.access_url))
    store.record("cli:root", "token.create", target="tok_1")
    statements = ["UPDATE audit_log SET actor = 'nobody'", "DELETE FROM audit_log"]
    if backend == "postgres":
        statements.append("TRUNCATE audit_log")
    for sql in statements:
        with pytest.raises(DBAPIError, match="append-only"):
            with store.engine.begin() as conn:
                conn.execute(text(sql))
    assert [(e["actor"], e["action"]) for e in store.audit()] == [("cli:root", "token.create")]
    store.record("cli:root", "token.revoke", target="tok_1")  # appending still works
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(audit_log)).scalar_one() == 2


def test_admins_query_the_audit_log_through_the_api(s: System) -> None:
    s.post(inspection())
    s.post(survey())
    entries = s.client.get("/api/v1/audit?action=submission.create").get_json()["entries"]
    assert len(entries) == 2 and {e["actor"] for e in entries} == {"test-operator"}
    assert entries[0]["id"] > entries[1]["id"]  # newest first
    older = s.client.get(f"/api/v1/audit?before_id={entries[0]['id']}&action=submission.create")
    assert [e["id"] for e in older.get_json()["entries"]] == [entries[1]["id"]]
    assert s.client.get("/api/v1/audit?actor=nobody").get_json()["entries"] == []
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert s.client.get("/api/v1/audit", query_string={"since": future}).get_json()["entries"] == []
    assert len(s.client.get("/api/v1/audit", query_string={"until": future}).get_json()["entries"]) >= 3
    bad = s.client.get("/api/v1/audit?since=yesterday")
    assert bad.status_code == 400 and bad.get_json()["error"]["errors"][0]["path"] == "since"
    bureau = s.access.issue("yk-bureau", ["reviewer"], ["330784"]).token
    assert _as(s.client, "GET", "/api/v1/audit", bureau).status_code == 403


# -- abuse limits, headers, CORS -------------------------------------------------------------------------------


def test_a_credential_over_its_rate_limit_gets_429_with_retry_after(tmp_path: Path) -> None:
    sys_ = build_system(replace(migrated(sqlite_settings(tmp_path)), rate_limit_credential="3 per minute"))
    other = sys_.access.issue("yk-bureau", ["reviewer"], ["330784"]).token
    codes = [sys_.client.get("/api/v1/forms").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]  # the operator's credential: 3 a minute
    limited = sys_.client.post("/api/v1/submissions", json=inspection(), headers={"Accept-Language": "en"})
    assert limited.status_code == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert limited.get_json()["error"]["code"] == "too_many_requests"
    assert "Retry-After" in limited.get_json()["error"]["message"]
    # another credential from the same address has its own count
    assert _as(sys_.client, "GET", "/api/v1/forms", other).status_code == 200
    assert sys_.reports.get("/api/v1/codes/districts").status_code == 200  # each service counts on its own
    assert sys_.client.get("/healthz").status_code == 200  # probes are never limited
    with sys_.intake.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(submissions)).scalar_one() == 0


def test_an_address_over_its_rate_limit_gets_429_whatever_credentials_it_uses(tmp_path: Path) -> None:
    sys_ = build_system(replace(migrated(sqlite_settings(tmp_path)), rate_limit_address="4 per minute"))
    tokens = [sys_.access.issue(f"yk-bureau-{i}", ["reviewer"], ["330784"]).token for i in range(5)]
    codes = [_as(sys_.client, "GET", "/api/v1/forms", t).status_code for t in tokens]
    assert codes == [200, 200, 200, 200, 429]
    elsewhere = _as(sys_.client, "GET", "/api/v1/forms", tokens[0], environ_base={"REMOTE_ADDR": "127.0.0.2"})
    assert elsewhere.status_code == 200  # another client address has its own count


def test_sign_in_attempts_are_limited_per_address(tmp_path: Path) -> None:
    sys_ = build_system(replace(migrated(sqlite_settings(tmp_path)), rate_limit_signin="3 per minute"))
    codes = [sys_.reports.post("/signin", data={"token": "score_guess"}).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]


def test_every_response_carries_the_security_headers_and_no_cors_grant(s: System) -> None:
    anonymous = s.client.application.test_client()
    anonymous.environ_base.pop("HTTP_AUTHORIZATION", None)
    responses = [
        s.client.get("/api/v1/docs"),
        s.client.get("/api/v1/openapi.json"),
        s.client.post("/api/v1/submissions", json=inspection(), headers={"Origin": "https://evil.example"}),
        s.client.get("/nowhere"),
        anonymous.get("/api/v1/audit"),
        s.reports.get("/"),
        s.reports.get("/signin"),
        s.reports.get("/api/v1/reports/districts/330784", headers={"Origin": "https://evil.example"}),
    ]
    for resp in responses:
        h = resp.headers
        assert (
            "frame-ancestors 'none'" in h["Content-Security-Policy"]
            and "default-src 'none'" in h["Content-Security-Policy"]
        )
        assert h["X-Content-Type-Options"] == "nosniff" and h["Referrer-Policy"] == "no-referrer"
        assert h["X-Frame-Options"] == "DENY"
        assert not [k for k in h.keys() if k.lower().startswith("access-control-")]  # CORS: same origin only
    # the pages' own script and style run under the response's nonce, nothing else inline does
    docs = responses[0]
    nonce = re.search(r"'nonce-([^']+)'", docs.headers["Content-Security-Policy"]).group(1)  # type: ignore[union-attr]
    # (the docs page loads Swagger UI and its initializer as files, each with the nonce; none is inline)
    assert f'<script nonce="{nonce}" src="/static/build/' in docs.get_data(as_text=True)
    assert f'<style nonce="{nonce}">' in docs.get_data(as_text=True)
    page = responses[5]
    nonce = re.search(r"'nonce-([^']+)'", page.headers["Content-Security-Policy"]).group(1)  # type: ignore[union-attr]
    html = page.get_data(as_text=True)
    tags = re.findall(r"<(?:script|style|link rel=\"stylesheet\")[^>]*>", html)
    assert any("<script" in t for t in tags) and any("stylesheet" in t for t in tags), tags
    assert all(f'nonce="{nonce}"' in t for t in tags), tags  # every script and style: this response's nonce
    assert page.headers["Cache-Control"] == "no-store"


# -- the dashboard's sign-in -----------------------------------------------------------------------------------


def test_the_dashboard_signs_in_with_a_token_into_a_signed_http_only_session(s: System) -> None:
    browser = s.reports.application.test_client()
    browser.environ_base.pop("HTTP_AUTHORIZATION", None)  # a browser loading a page sends no bearer header
    first = browser.get("/")
    assert first.status_code == 401 and b'name="token"' in first.data
    assert browser.post("/signin", data={"token": "score_wrong"}).status_code == 401
    device = s.access.issue("yk-phone", ["collector"], ["330784"], kind="device").token
    assert browser.post("/signin", data={"token": device}).status_code == 401  # not for people at a screen
    assert (
        browser.post(
            "/signin", data={"token": s.token}, headers={"Origin": "https://evil.example"}
        ).status_code
        == 403
    )

    bureau = s.access.issue("jinhua-bureau", ["reviewer"], ["330700"])
    signed_in = browser.post("/signin", data={"token": bureau.token})
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/"
    cookie = signed_in.headers["Set-Cookie"]
    assert "score_session=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert bureau.token not in cookie  # the cookie names the credential, it does not carry it
    page = browser.get("/")
    assert page.status_code == 200 and "jinhua-bureau" in page.get_data(as_text=True)
    assert browser.get("/api/v1/reports/districts?format=csv").status_code == 200  # the page's export links
    assert browser.get("/api/v1/reports/districts/330106").status_code == 403  # Xihu: not Jinhua's
    assert browser.get("/metrics").status_code == 403

    s.access.revoke(bureau.info.id)  # revoking the token ends its sessions at their next request
    assert browser.get("/").status_code == 401
    browser.post("/signin", data={"token": s.token})
    assert browser.get("/").status_code == 200
    out = browser.post("/signout")
    assert out.status_code == 303 and browser.get("/").status_code == 401


# -- the command line and the first start ----------------------------------------------------------------------


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SCORE_VAR_DIR", str(tmp_path))
    for name in ("SCORE_INTAKE_DATABASE_URL", "SCORE_AGGREGATOR_DATABASE_URL", "SCORE_ACCESS_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SCORE_KAFKA_BOOTSTRAP_SERVERS", "")
    return from_env()


_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ")


def _printed(result: Any) -> list[str]:
    """What a command printed, without the log lines (the migration's) that CliRunner mixes in."""
    return [line for line in result.output.splitlines() if not _LOG_LINE.match(line)]


def test_tokens_links_and_the_audit_log_from_the_command_line(env: Settings) -> None:
    runner = CliRunner()
    made = runner.invoke(
        main,
        [
            "tokens",
            "create",
            "yk-aj-0217",
            "--role",
            "collector",
            "--district",
            "330784",
            "--kind",
            "device",
            "--expires-in",
            "365d",
        ],
    )
    assert made.exit_code == 0, made.output
    token = next(line for line in made.output.splitlines() if line.startswith("score_"))
    token_id = re.findall(r"tok_[0-9a-f]{16}", made.output)[0]
    refused = runner.invoke(main, ["tokens", "create", "x", "--role", "collector"])
    assert refused.exit_code != 0 and "need at least one district" in refused.output
    link = runner.invoke(main, ["links", "create", "--district", "330784", "--campaign", "yk-2026q4"])
    assert link.exit_code == 0, link.output
    url = link.output.strip().splitlines()[-1]
    # the token in the fragment: a browser never sends it to a server (the survey page posts it as a bearer)
    assert url.startswith("http://127.0.0.1:8000/survey#st=score_")

    listed = runner.invoke(main, ["tokens", "list"]).output
    assert "yk-aj-0217" in listed and "survey-yk-2026q4" in listed and token not in listed
    assert runner.invoke(main, ["tokens", "revoke", token_id]).exit_code == 0
    assert "yk-aj-0217" not in runner.invoke(main, ["tokens", "list"]).output
    assert "revoked" in runner.invoke(main, ["tokens", "list", "--all"]).output
    assert runner.invoke(main, ["tokens", "revoke", token_id]).exit_code != 0

    audit = runner.invoke(main, ["audit", "list", "--action", "token.revoke"])
    assert audit.exit_code == 0 and token_id in audit.output and "cli:" in audit.output
    assert len(_printed(runner.invoke(main, ["audit", "list", "--action", "token.create"]))) == 2
    assert _printed(runner.invoke(main, ["audit", "list", "--since", "2999-01-01"])) == []
    assert len(_printed(runner.invoke(main, ["audit", "list", "--until", "2999-01-01"]))) == 3
    as_json = runner.invoke(main, ["audit", "list", "--json", "--action", "token.revoke"])
    assert as_json.exit_code == 0
    assert [json.loads(line)["target"] for line in _printed(as_json)] == [token_id]
    assert _printed(runner.invoke(main, ["audit", "list", "--actor", "nobody"])) == []
    for group in ("tokens", "links", "audit"):
        assert runner.invoke(main, [group, "--help"]).exit_code == 0
    assert "reviewer" in runner.invoke(main, ["tokens", "--help"]).output


def test_the_first_start_creates_an_admin_and_demo_credentials_once(
    env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    migrated(env)
    _first_start(env, "http://127.0.0.1:8000", "http://127.0.0.1:8001")
    out = capsys.readouterr().out
    tokens = re.findall(r"score_[A-Za-z0-9_-]{43}", out)
    assert len(tokens) == 4 and "/survey#st=score_" in out
    sys_ = build_system(env)
    collector, link = tokens[2], tokens[3]
    assert f"http://127.0.0.1:8000/app/#device={collector}" in out  # the field app's enrollment link
    assert _as(sys_.client, "POST", "/api/v1/submissions", collector, json=inspection()).status_code == 201
    assert _as(sys_.client, "POST", f"/api/v1/submissions?st={link}", None, json=survey()).status_code == 201
    assert _as(sys_.client, "GET", "/api/v1/audit", tokens[0]).status_code == 200  # the admin
    assert _as(sys_.reports, "GET", "/", tokens[1]).status_code == 200  # the demo ministry: the dashboard
    _first_start(env, "http://127.0.0.1:8000", "http://127.0.0.1:8001")
    assert capsys.readouterr().out == ""  # not again
    # nothing is open by default
    assert _as(sys_.client, "POST", "/api/v1/submissions", None, json=inspection()).status_code == 401
    assert _as(sys_.reports, "GET", "/api/v1/reports/districts", None).status_code == 401
