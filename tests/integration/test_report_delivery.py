"""Report packages delivered on a schedule: each district's package once, to a folder and to a real HTTP
receiver (werkzeug in a thread); a failed delivery retried with the same bytes and Idempotency-Key; a rerun
of the same period sends nothing; late events make a new version.  Embedded and on PostgreSQL + Kafka."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from services.aggregator.adapters.destinations import FolderDestination, HttpDestination
from services.aggregator.adapters.tables import report_deliveries
from services.aggregator.domain.periods import period_of
from services.aggregator.service_layer import delivery, packages
from services.common.backoff import Backoff
from tests.builders import inspection, rectification
from tests.conftest import System

OCTOBER = period_of("month", date(2026, 10, 15))  # the last complete month on NOW (2026-11-27)
CODES = ["330000", "330100", "330700", "330784"]
FAST = Backoff(first=0.01, most=0.05)  # the waits between attempts; the tests wait on outcomes, not time
GENERATED = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)


def _october(system: System) -> str:
    """Inspections in Hangzhou and Yongkang in October; returns the Yongkang one with an open hazard."""
    yk = inspection(
        district="330784",
        enterprise=1,
        day=date(2026, 10, 9),
        failed=[
            ("DUST-01", "dust_explosion", "major", "2026-11-09"),
            ("FIRE-02", "fire", "general", "2026-10-20"),
        ],
    )
    posted = [
        yk,
        inspection(district="330784", enterprise=2, day=date(2026, 10, 21)),
        inspection(district="330106", enterprise=3, day=date(2026, 10, 14), industry="C39"),
    ]
    for body in posted:
        assert system.post(body).status_code == 201
    assert (
        system.post(rectification(yk["submission_id"], "FIRE-02", on=date(2026, 10, 18))).status_code == 201
    )
    system.sync()
    return str(yk["submission_id"])


def _deliver(system: System, dest: Any, attempts: int = 5) -> list[delivery.Outcome]:
    agg = system.aggregator
    return delivery.deliver(
        agg.engine,
        agg.source_name,
        dest,
        CODES,
        [OCTOBER],
        attempts=attempts,
        backoff=FAST,
        now=lambda: GENERATED,
    )


def _rows(system: System) -> list[Any]:
    with system.aggregator.engine.connect() as conn:
        return list(conn.execute(select(report_deliveries).order_by(report_deliveries.c.id)))


def _api_report(system: System, code: str) -> dict[str, Any]:
    report: dict[str, Any] = system.report(code, period="month", date="2026-10-15", as_of="2026-10-31")
    return report


def test_a_scheduled_run_delivers_each_districts_package_once_to_a_folder(
    system: System, tmp_path: Path
) -> None:
    yongkang_inspection = _october(system)
    inbox = tmp_path / "mem-inbox"
    first = _deliver(system, FolderDestination(inbox))
    assert [(o.district, o.status, o.version, o.attempts) for o in first] == [
        (c, "delivered", 1, 1) for c in CODES
    ]

    for code in CODES:
        (package,) = (inbox / code).iterdir()  # one package, no temporary directory left behind
        assert package.name == f"score-{code}-month-2026-10-v1"
        manifest = json.loads((package / "manifest.json").read_text(encoding="utf-8"))
        report = json.loads((package / "report.json").read_text(encoding="utf-8"))
        api = _api_report(system, code)
        # the figures are the report API's for the period, as of its last day
        assert report["figures"] == api["figures"] and report["as_of"] == "2026-10-31"
        assert manifest["content_sha256"] == packages.content_sha256(api)
        assert manifest["period"] == {
            "kind": "month",
            "key": "2026-10",
            "start": "2026-10-01",
            "end": "2026-10-31",
        }
        assert manifest["log_position"]["partitions"] and manifest["log_position"]["source"]
        for f in manifest["files"]:
            assert hashlib.sha256((package / f["name"]).read_bytes()).hexdigest() == f["sha256"]
        for line in (package / "SHA256SUMS").read_text().splitlines():
            digest, name = line.split("  ")
            assert hashlib.sha256((package / name).read_bytes()).hexdigest() == digest
        # XLSX labelled in Chinese and English, the same figure as the API
        sheet = load_workbook(io.BytesIO((package / "report.xlsx").read_bytes()), read_only=True).active
        assert sheet is not None
        cells = {r[5]: r for r in sheet.iter_rows(min_row=2, values_only=True)}
        assert cells["inspections"][6:9] == ("检查次数", "Inspections", api["figures"]["inspections"])
        assert any(r["metric"] == "hazards.overdue" and r["label_zh"] == "逾期未整改" for r in report["rows"])
    yongkang = json.loads((inbox / "330784" / "score-330784-month-2026-10-v1" / "report.json").read_text())
    assert yongkang["figures"]["inspections"] == 2 and yongkang["figures"]["hazards"]["rectified"] == 1

    # the timer runs again: the same figures are not delivered twice
    again = _deliver(system, FolderDestination(inbox))
    assert [o.status for o in again] == ["unchanged"] * 4
    assert sorted(p.name for p in (inbox / "330784").iterdir()) == ["score-330784-month-2026-10-v1"]
    rows = _rows(system)
    assert [(r.district, r.version, r.status, r.attempts) for r in rows] == [
        (c, 1, "delivered", 1) for c in CODES
    ]

    # a late event (October's major hazard rectified in November) changes Yongkang and the levels above it:
    # a new version for those three, Hangzhou's package stays as delivered
    late = rectification(yongkang_inspection, "DUST-01", on=date(2026, 11, 5))
    assert system.post(late).status_code == 201
    system.sync()
    third = {o.district: (o.status, o.version) for o in _deliver(system, FolderDestination(inbox))}
    assert third == {
        "330000": ("delivered", 2),
        "330100": ("unchanged", 1),
        "330700": ("delivered", 2),
        "330784": ("delivered", 2),
    }
    v2 = inbox / "330784" / "score-330784-month-2026-10-v2"
    manifest = json.loads((v2 / "manifest.json").read_text())
    assert manifest["supersedes_version"] == 1
    assert json.loads((v2 / "report.json").read_text())["figures"]["hazards"]["rectified"] == 2


@dataclass
class Receiver:
    """A receiving system: answers the scripted statuses first, then 201; keeps every request."""

    url: str
    script: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)

    def stored(self) -> dict[str, bytes]:
        """What a receiver deduplicating by Idempotency-Key has stored (accepted requests only)."""
        return {h["Idempotency-Key"]: body for h, body, status in self.requests if status < 300}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: list[Receiver] = []
    lock = threading.Lock()

    @Request.application
    def app(request: Request) -> Response:
        body = request.get_data()
        with lock:
            r = holder[0]
            status = r.script.pop(0) if r.script else 201
            r.requests.append((dict(request.headers), body, status))
        headers = {"Retry-After": "0"} if status == 503 else {}
        return Response("{}", status=status, headers=headers, content_type="application/json")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    holder.append(Receiver(f"http://127.0.0.1:{server.server_port}/api/reports"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder[0]
    server.shutdown()
    thread.join(timeout=10)


def test_http_delivery_retries_a_503_and_a_rerun_does_not_deliver_twice(
    system: System, receiver: Receiver
) -> None:
    _october(system)
    receiver.script = [503]  # the receiver is briefly unavailable on the first request
    outcomes = _deliver(system, HttpDestination(receiver.url))
    assert [(o.district, o.status) for o in outcomes] == [(c, "delivered") for c in CODES]
    assert [o.attempts for o in outcomes] == [2, 1, 1, 1]
    assert [status for _h, _b, status in receiver.requests] == [503, 201, 201, 201, 201]
    # the retry is the same request: same bytes, same Idempotency-Key, a Content-Digest that matches them
    (h1, b1, _), (h2, b2, _) = receiver.requests[:2]
    assert b1 == b2 and h1["Idempotency-Key"] == h2["Idempotency-Key"]
    for headers, body, _status in receiver.requests:
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        assert headers["Content-Digest"] == f"sha-256=:{digest}:"
        assert headers["Content-Type"] == "application/json"
    stored = receiver.stored()
    assert len(stored) == 4  # each district's package once
    for key, body in stored.items():
        manifest, files = packages.unpack(body)
        assert manifest["idempotency_key"] == key
        code = manifest["district"]["code"]
        assert json.loads(files["report.json"])["figures"] == _api_report(system, code)["figures"]
    rows = _rows(system)
    assert [(r.status, r.attempts, r.last_error) for r in rows][0] == (
        "delivered",
        2,
        "HTTP 503 SERVICE UNAVAILABLE",
    )
    assert {r.destination for r in rows} == {receiver.url}

    # the next scheduled run of the same period: nothing is sent
    again = _deliver(system, HttpDestination(receiver.url))
    assert [o.status for o in again] == ["unchanged"] * 4
    assert len(receiver.requests) == 5


def test_a_delivery_that_keeps_failing_is_recorded_and_the_next_run_sends_the_same_bytes(
    system: System, receiver: Receiver
) -> None:
    _october(system)
    agg = system.aggregator
    dest = HttpDestination(receiver.url)
    codes = ["330784", "330100", "330700"]
    receiver.script = [503, 503, 400, 503]
    failed = delivery.deliver(
        agg.engine, agg.source_name, dest, codes, [OCTOBER], attempts=2, backoff=FAST, now=lambda: GENERATED
    )
    # Yongkang: 503 twice, out of attempts; the receiver is down, so the others get one attempt each this
    # run: Hangzhou's 400 is a refusal (not retried anyway), Jinhua's 503 is not retried this run
    assert [(o.district, o.status, o.attempts) for o in failed] == [
        ("330784", "failed", 2),
        ("330100", "failed", 1),
        ("330700", "failed", 1),
    ]
    assert [(r.status, r.attempts, r.last_error) for r in _rows(system)] == [
        ("failed", 2, "HTTP 503 SERVICE UNAVAILABLE"),
        ("failed", 1, "HTTP 400 BAD REQUEST"),
        ("failed", 1, "HTTP 503 SERVICE UNAVAILABLE"),
    ]
    sent_before = receiver.requests[0][1]

    # the receiver is back; a later run (another clock) sends the versions it failed to deliver, byte for byte
    later = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
    done = delivery.deliver(
        agg.engine, agg.source_name, dest, codes, [OCTOBER], attempts=2, backoff=FAST, now=lambda: later
    )
    assert [(o.status, o.version) for o in done] == [("delivered", 1)] * 3
    assert receiver.requests[4][1] == sent_before
    assert [(r.version, r.status, r.attempts) for r in _rows(system)] == [
        (1, "delivered", 3),
        (1, "delivered", 2),
        (1, "delivered", 2),
    ]
    assert len(receiver.stored()) == 3
