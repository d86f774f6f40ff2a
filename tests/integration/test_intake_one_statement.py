"""The intake as deployed (PostgreSQL + Kafka, the access store in the intake's database): a first version, its
outbox row and its audit entry are written by ONE statement, in autocommit, and stand or fall together.

The app is built as production builds it (``create_app(settings)``: the audit log shares the intake's pool), on a
real PostgreSQL; Kafka is named but never reached (the relay is not running: the outbox keeps the events).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from flask import Flask
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from services.access import AccessStore
from services.common.canonical import canonical_json
from services.common.config import Settings
from services.common.db import make_engine
from services.common.migrate import upgrade
from services.eventlog import outbox
from services.intake.adapters.events import envelope
from services.intake.domain.events import SubmissionReceived
from services.intake.entrypoints.app import create_app
from services.intake.service_layer import access, handlers
from tests.builders import inspection
from tests.conftest import UNLIMITED, unique
from tests.servers import PostgresServer, _conninfo

pytestmark = pytest.mark.postgres


@pytest.fixture
def deployed(postgres_server: PostgresServer) -> Iterator[tuple[Flask, dict[str, str], str]]:
    url = postgres_server.fresh_database(unique("once"))
    settings = Settings(
        intake_database_url=url,
        aggregator_database_url=url,
        kafka_bootstrap_servers="127.0.0.1:9",  # Kafka mode: the outbox is relayed, not read as the log
        **UNLIMITED,
    )
    upgrade("intake", make_engine(url))
    upgrade("access", make_engine(url))
    token = AccessStore(make_engine(url)).issue("collector-1", ["collector"], ["330000"]).token
    app = create_app(settings)
    app.config["TESTING"] = True
    yield app, {"Authorization": f"Bearer {token}"}, url
    app.extensions["score.intake"].engine.dispose()


def counts(url: str, submission_id: str) -> tuple[int, int, Counter[str]]:
    """(submission rows, outbox rows, audit entries by action) of one submission id."""
    with psycopg.connect(_conninfo(make_url(url))) as conn:
        subs = conn.execute("SELECT count(*) FROM submissions WHERE id = %s", (submission_id,)).fetchone()
        events = conn.execute("SELECT count(*) FROM outbox WHERE subject = %s", (submission_id,)).fetchone()
        audited = conn.execute("SELECT action FROM audit_log WHERE target = %s", (submission_id,)).fetchall()
    assert subs is not None and events is not None
    return subs[0], events[0], Counter(a for (a,) in audited)


def test_a_first_version_is_stored_audited_and_announced_by_one_statement(
    deployed: tuple[Flask, dict[str, str], str],
) -> None:
    app, auth, url = deployed
    engine = app.extensions["score.intake"].engine
    client = app.test_client()
    body = inspection()
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        resp = client.post("/api/v1/submissions", json=body, headers=auth)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert resp.status_code == 201, resp.get_json()
    # the bearer check and the write: two statements, and no transaction around the write (autocommit)
    assert len(sent) == 2, sent
    assert "INSERT INTO submissions" in sent[1] and "INSERT INTO outbox" in sent[1]
    assert "INSERT INTO audit_log" in sent[1]
    assert counts(url, body["submission_id"]) == (1, 1, Counter({"submission.create": 1}))
    with psycopg.connect(_conninfo(make_url(url))) as conn:
        row = conn.execute(
            "SELECT actor, district, token_id FROM audit_log WHERE target = %s", (body["submission_id"],)
        ).fetchone()
    assert row is not None and row[0] == "collector-1" and row[1] == body["district"] and row[2]

    # a retry: answered from the stored row, nothing written, nothing audited
    again = client.post("/api/v1/submissions", json=body, headers=auth)
    assert again.status_code == 200 and again.get_json() == resp.get_json()
    # the same id with other content: refused, nothing written
    other = client.post(
        "/api/v1/submissions", json={**body, "collected_at": "2026-11-20T11:00:00+08:00"}, headers=auth
    )
    assert other.status_code == 409, other.get_json()
    assert counts(url, body["submission_id"]) == (1, 1, Counter({"submission.create": 1}))

    # a correction takes the careful path (it reads and changes what it replaces): audited with it all the same
    fixed = inspection(replaces=body["submission_id"], passed=4)
    resp = client.post("/api/v1/submissions", json=fixed, headers=auth)
    assert resp.status_code == 201, resp.get_json()
    assert counts(url, fixed["submission_id"]) == (1, 1, Counter({"submission.correct": 1}))


def test_the_statement_notifies_the_relay_s_channel(deployed: tuple[Flask, dict[str, str], str]) -> None:
    app, auth, url = deployed
    with psycopg.connect(_conninfo(make_url(url)), autocommit=True) as listener:
        listener.execute(f"LISTEN {outbox.CHANNEL}")
        resp = app.test_client().post("/api/v1/submissions", json=inspection(), headers=auth)
        assert resp.status_code == 201
        got = list(listener.notifies(timeout=30, stop_after=1))
    assert [n.channel for n in got] == [outbox.CHANNEL]


def test_nothing_is_half_written_when_the_statement_fails(
    deployed: tuple[Flask, dict[str, str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit entry fails (an action longer than its column): the submission and its outbox row are not
    written either, and the retry, once the fault is gone, is stored as new."""
    app, auth, url = deployed
    monkeypatch.setattr(access, "audit_action", lambda valid: "x" * 41)
    body = inspection()
    resp = app.test_client().post("/api/v1/submissions", json=body, headers=auth)
    assert resp.status_code >= 500
    assert counts(url, body["submission_id"]) == (0, 0, Counter())
    monkeypatch.undo()
    resp = app.test_client().post("/api/v1/submissions", json=body, headers=auth)
    assert resp.status_code == 201, resp.get_json()
    assert counts(url, body["submission_id"]) == (1, 1, Counter({"submission.create": 1}))


def test_a_batch_stores_its_new_items_at_once_each_audited_and_announced_once(
    deployed: tuple[Flask, dict[str, str], str],
) -> None:
    app, auth, url = deployed
    client = app.test_client()
    stored_before = inspection()
    assert client.post("/api/v1/submissions", json=stored_before, headers=auth).status_code == 201
    new = [inspection(enterprise=i + 2) for i in range(3)]
    items = [new[0], stored_before, new[1], new[0], new[2]]
    resp = client.post("/api/v1/submissions/batch", json={"submissions": items}, headers=auth)
    assert resp.status_code == 207
    assert [r["status"] for r in resp.get_json()["results"]] == [201, 200, 201, 200, 201]
    for body in new:
        assert counts(url, body["submission_id"]) == (1, 1, Counter({"submission.create": 1}))
    assert counts(url, stored_before["submission_id"]) == (1, 1, Counter({"submission.create": 1}))
    with psycopg.connect(_conninfo(make_url(url))) as conn:
        positions = [
            r[0]
            for r in conn.execute(
                "SELECT subject FROM outbox WHERE subject = ANY(%s) ORDER BY position",
                ([b["submission_id"] for b in new],),
            )
        ]
    assert positions == [b["submission_id"] for b in new]  # positions in the batch's order


def test_a_batch_run_and_its_audit_entries_are_one_statement(
    deployed: tuple[Flask, dict[str, str], str],
) -> None:
    """A run of first versions is written with its audit entries by the one statement (no audit statement of
    its own afterwards); a correction in the batch is audited in its own transaction, a retry not at all."""
    app, auth, url = deployed
    engine = app.extensions["score.intake"].engine
    client = app.test_client()
    stored_before = inspection()
    assert client.post("/api/v1/submissions", json=stored_before, headers=auth).status_code == 201
    new = [inspection(enterprise=i + 2) for i in range(4)]
    correction = inspection(replaces=stored_before["submission_id"], passed=5)
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        resp = client.post(
            "/api/v1/submissions/batch", json={"submissions": [*new[:3], correction, new[3]]}, headers=auth
        )
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert resp.status_code == 207
    assert [r["status"] for r in resp.get_json()["results"]] == [201, 201, 201, 201, 201]
    writes = [i for i, s in enumerate(sent) if "INSERT INTO submissions" in s]
    audit_alone = [i for i, s in enumerate(sent) if "INSERT INTO audit_log" in s and i not in writes]
    # the run of three in one statement with its entries, the last item alone the same way; the correction
    # (the careful path) in a transaction of its own, its entry a statement in it; nothing audited afterwards
    assert [("INSERT INTO audit_log" in sent[i]) for i in writes] == [True, False, True], sent
    assert len(audit_alone) == 1 and writes[1] < audit_alone[0] < writes[2], sent
    for body in new:
        assert counts(url, body["submission_id"]) == (1, 1, Counter({"submission.create": 1}))
    assert counts(url, correction["submission_id"]) == (1, 1, Counter({"submission.correct": 1}))


def test_a_batch_run_stores_canonical_json_read_back_as_posted(
    deployed: tuple[Flask, dict[str, str], str],
) -> None:
    """The run's statement takes the JSON columns as texts in binary text arrays (written by the intake, not
    psycopg): each is stored as the canonical text of its value (as the careful path stores it), non-ASCII,
    quotes and backslashes byte for byte, and reads back as it was posted."""
    app, auth, url = deployed
    client = app.test_client()
    items = [
        inspection(enterprise=i + 2, failed=[("DUST-01", "dust_explosion", "major", "2026-12-20")])
        for i in range(2)
    ]
    items[1]["data"]["enterprise"]["name"] = '永康 "五金" \\ 厂'  # quotes and a backslash inside
    resp = client.post("/api/v1/submissions/batch", json={"submissions": items}, headers=auth)
    assert [r["status"] for r in resp.get_json()["results"]] == [201, 201]
    with psycopg.connect(_conninfo(make_url(url))) as conn:
        rows = conn.execute(
            "SELECT id, collector, data, computed FROM submissions WHERE id = ANY(%s)",
            ([b["submission_id"] for b in items],),
        ).fetchall()
    assert len(rows) == 2
    for _, *texts in rows:
        for stored in texts:
            assert stored == canonical_json(json.loads(stored))
    # the events' payloads too travel in a text array: each stored as the canonical text of the version it
    # announces, as an Event (the careful path) would have written it
    with psycopg.connect(_conninfo(make_url(url))) as conn:
        payloads: dict[str, str] = dict(
            conn.execute(
                "SELECT subject, data FROM outbox WHERE subject = ANY(%s)",
                ([b["submission_id"] for b in items],),
            ).fetchall()
        )
    assert len(payloads) == 2
    uow = app.extensions["score.intake"].uow()
    for sub_id, *_ in rows:
        with uow:
            sub = uow.submissions.get(sub_id)
        assert sub is not None
        announced = envelope(SubmissionReceived(sub.version(), sub.order_key, datetime.now(UTC)))
        assert payloads[sub_id] == announced.data_json
    for body in items:
        got = handlers.get_submission(app.extensions["score.intake"].uow(), body["submission_id"])
        assert got["data"]["enterprise"]["name"] == body["data"]["enterprise"]["name"]
        assert got["collector"] == {"id": "collector-1", "role": body["collector"]["role"]}
        assert (
            got["computed"]["items_failed"] == 1 and got["computed"]["hazards"][0]["item_code"] == "DUST-01"
        )


def test_nothing_of_a_batch_run_is_half_written_when_its_audit_fails(
    deployed: tuple[Flask, dict[str, str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit entries fail (an action longer than its column): the run's submissions and outbox rows are not
    written either, and the batch posted again once the fault is gone stores every item as new, audited."""
    app, auth, url = deployed
    client = app.test_client()
    items = [inspection(enterprise=i + 2) for i in range(3)]
    monkeypatch.setattr(access, "audit_action", lambda valid: "x" * 41)
    resp = client.post("/api/v1/submissions/batch", json={"submissions": items}, headers=auth)
    assert resp.status_code >= 500
    for body in items:
        assert counts(url, body["submission_id"]) == (0, 0, Counter())
    monkeypatch.undo()
    resp = client.post("/api/v1/submissions/batch", json={"submissions": items}, headers=auth)
    assert [r["status"] for r in resp.get_json()["results"]] == [201, 201, 201]
    for body in items:
        assert counts(url, body["submission_id"]) == (1, 1, Counter({"submission.create": 1}))


def test_connections_go_back_to_the_pool_with_autocommit_off(
    deployed: tuple[Flask, dict[str, str], str],
) -> None:
    """The write switches autocommit on for its one statement only: every connection returned to the pool is
    back in transactional mode, so the next unit of work on it reads and writes in a transaction as before."""
    app, auth, url = deployed
    engine = app.extensions["score.intake"].engine
    client = app.test_client()
    returned: list[bool] = []

    def checkin(dbapi_conn: Any, record: Any) -> None:
        returned.append(bool(dbapi_conn.autocommit))

    event.listen(engine, "checkin", checkin)
    try:
        for _ in range(3):
            assert client.post("/api/v1/submissions", json=inspection(), headers=auth).status_code == 201
    finally:
        event.remove(engine, "checkin", checkin)
    # per request: the bearer check's connection (autocommit by its execution options, reset on return)
    # and the write's, both returned with autocommit off
    assert returned and not any(returned), returned
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        assert conn.in_transaction()


def test_a_connection_lost_during_the_statement_is_a_503_nothing_written_and_never_reused(
    deployed: tuple[Flask, dict[str, str], str], postgres_server: PostgresServer
) -> None:
    """The database connection dies just as the one statement is sent: 503 (retry later), nothing written,
    and the broken connection never serves again (the retry is stored as new, in a transaction as usual)."""
    app, auth, url = deployed
    engine = app.extensions["score.intake"].engine
    killed: list[int] = []

    def kill(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "INSERT INTO submissions" not in statement or killed:
            return
        pid = conn.connection.driver_connection.info.backend_pid
        with psycopg.connect(_conninfo(make_url(url)), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            deadline = time.monotonic() + 30
            while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
                assert time.monotonic() < deadline, "the backend was not terminated"
                time.sleep(0.05)
        killed.append(pid)

    body = inspection()
    event.listen(engine, "before_cursor_execute", kill)
    try:
        resp = app.test_client().post("/api/v1/submissions", json=body, headers=auth)
    finally:
        event.remove(engine, "before_cursor_execute", kill)
    assert killed and resp.status_code == 503, resp.get_json()
    assert counts(url, body["submission_id"]) == (0, 0, Counter())
    returned: list[bool] = []
    event.listen(engine, "checkin", lambda dbapi_conn, record: returned.append(bool(dbapi_conn.autocommit)))
    resp = app.test_client().post("/api/v1/submissions", json=body, headers=auth)
    assert resp.status_code == 201, resp.get_json()
    assert counts(url, body["submission_id"]) == (1, 1, Counter({"submission.create": 1}))
    assert returned and not any(returned), returned
