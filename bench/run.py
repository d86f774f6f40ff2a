"""``make bench``: every stage of the pipeline measured next to its ceiling in one run, printed as one table.

    .venv/bin/python -m bench.run [--quick] [--results-dir bench/results]

Starts PostgreSQL and Kafka once (tests/servers.py; or reuses SCORE_TEST_DATABASE_URL /
SCORE_TEST_KAFKA_BOOTSTRAP with SCORE_TEST_KAFKA_USERNAME/PASSWORD), then measures:

- single intake: ``wrk`` posts one inspection per request (a Lua script mints each submission_id) to the
  intake served by gunicorn with the production settings (``-c python:services.common.gunicorn_conf``),
  next to ``POST /bare`` (parse JSON, answer 201) in the same server: submissions/s, p50/p95/p99, and CPU
  per submission of the app (gunicorn's processes) and of PostgreSQL (its processes);
- batch intake: batches of 50 posted from this process, next to a set-based insert (COPY, one transaction)
  of the very rows the intake stored (submissions, outbox, audit log) - the database's ceiling;
- relay: outbox -> Kafka events/s next to a raw kafka-python producer sending the same records
  (``bench/relay_bench.py``, in its own process);
- aggregator: events/s applied exactly into PostgreSQL next to a raw consumer reading the same topic, and the
  district report's p95 over what was applied (``bench/aggregator_bench.py``, in its own process);
- reports: the district report, the dashboard's chart JSON (``GET /api/v1/dashboard/<code>``) and the
  dashboard page (``GET /``) over a million stored submissions seeded set-based (``bench/seed_reports.py``),
  p95 server time (timed here, not in the tests: tests/integration/test_report_at_scale.py checks the
  figures at that size);
- freshness: the real processes (``score relay``, ``score aggregator consume``, both APIs under gunicorn) on
  Kafka; a submission is posted and the district report polled until it counts it: 201 -> visible, p50/p95;
- peak memory (VmHWM) of each process.

Every run writes ``<results-dir>/<UTC time>-<commit>.json`` (machine, commit, date, every figure); the
table also shows the previous results file's figures, so two runs compare at a glance.  ``--quick`` runs
everything with tiny sizes (the smoke test in tests/bench uses it): the figures then mean nothing.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench import procs, wrk  # noqa: E402
from bench.intake_bench import drive  # noqa: E402
from bench.seed_reports import seed  # noqa: E402
from services.access import AccessStore  # noqa: E402
from services.access import bootstrap as access_bootstrap  # noqa: E402
from services.access.store import AUDIT_COLUMNS  # noqa: E402
from services.aggregator import views  # noqa: E402
from services.aggregator.bootstrap import bootstrap as aggregator_bootstrap  # noqa: E402
from services.aggregator.entrypoints.app import create_app as reports_app  # noqa: E402
from services.common.config import Settings  # noqa: E402
from services.common.db import make_engine  # noqa: E402
from services.common.migrate import upgrade  # noqa: E402
from tests.builders import inspection  # noqa: E402
from tests.servers import (  # noqa: E402
    DATABASE_ENV,
    KAFKA_ENV,
    KAFKA_PASSWORD_ENV,
    KAFKA_USERNAME_ENV,
    KafkaBroker,
    PostgresServer,
    _conninfo,
    free_port,
)

PY = sys.executable
BIN = Path(PY).parent


@dataclass
class Row:
    """One line of the table: a figure, its ceiling measured in the same run, and what is aimed at."""

    stage: str
    figure: float
    unit: str
    ceiling: float | None = None
    ceiling_name: str = ""
    target: str = ""
    note: str = ""
    key: str = ""

    @property
    def ratio(self) -> float | None:
        if self.ceiling in (None, 0):
            return None
        return self.figure / self.ceiling


@dataclass
class Sizes:
    seconds: float = 10.0
    connections: int = 16
    workers: int = 2
    #: long enough (~2 s) that the start and the tail of the run (fewer batches in flight) are not the figure
    batch_submissions: int = 10_000
    batch_size: int = 50
    relay_events: int = 20_000
    aggregator_events: int = 100_000
    aggregator_seconds: float = 90.0
    #: score aggregator consume processes of the aggregator and replay rows (0: the bench's default, the
    #: production setting; bench/aggregator_bench.py DEPLOYED_PROCESSES)
    aggregator_processes: int = 0
    report_queries: int = 50
    freshness_samples: int = 40
    report_submissions: int = 1_000_000
    report_template: int = 10_000

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            seconds=1.0,
            connections=4,
            workers=1,
            batch_submissions=100,
            batch_size=20,
            relay_events=300,
            aggregator_events=600,
            aggregator_seconds=120.0,
            report_queries=5,
            report_submissions=4_000,
            report_template=2_000,
            freshness_samples=3,
        )


@dataclass
class Run:
    sizes: Sizes
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    memory_mb: dict[str, float] = field(default_factory=dict)


# -- helpers ---------------------------------------------------------------------------------------------


def wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    """Until something listens on ``port``; if ``proc`` dies first, the error carries the end of its ``log``
    (a child's own words are what say why, and CI keeps only this process's output)."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log.exists() else ""
            raise RuntimeError(
                f"{proc.args!r} exited with {proc.returncode} before listening on {port}; "
                f"the end of {log}:\n{tail}"
            )
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {port} after {timeout:.0f}s") from None
            time.sleep(0.1)


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process (its output in ``log``), terminated and reaped on the way out."""
    with log.open("ab") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def gunicorn(app: str, port: int, workers: int) -> list[str]:
    """The production command line (deploy/systemd/*.service) with this machine's worker count."""
    return [
        str(BIN / "gunicorn"),
        "-c",
        "python:services.common.gunicorn_conf",
        "-w",
        str(workers),
        "-b",
        f"127.0.0.1:{port}",
        app,
    ]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine() -> dict[str, Any]:
    model = ""
    try:
        model = next(
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    try:
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kb = 0
    return {
        "hostname": socket.gethostname(),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": list(os.getloadavg()),
    }


# -- phases ----------------------------------------------------------------------------------------------


def intake_phase(run: Run, pg: PostgresServer, pg_pid: int | None, work: Path, env: dict[str, str]) -> None:
    sizes = run.sizes
    db_url = pg.fresh_database(f"bench_intake_{os.getpid()}")
    upgrade("intake", make_engine(db_url))
    upgrade("access", make_engine(db_url))
    token = AccessStore(make_engine(db_url)).issue("bench-collector", ["collector"], ["330000"]).token
    port = free_port()
    app_env = {
        **env,
        "SCORE_INTAKE_DATABASE_URL": db_url,
        "SCORE_AGGREGATOR_DATABASE_URL": db_url,
        # Kafka mode for the outbox (no advisory lock serialising commits); no relay runs in this phase.
        "SCORE_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
        "SCORE_MAX_REQUEST_BYTES": "20000000",
        "SCORE_BATCH_LIMIT": str(max(sizes.batch_size, 100)),
        # a load generator is one client far above any person's rate: no rate limit in the way
        "SCORE_RATE_LIMIT_CREDENTIAL": "",
        "SCORE_RATE_LIMIT_ADDRESS": "",
    }
    with process(gunicorn("bench.intake_wsgi:app", port, sizes.workers), app_env, work / "intake.log") as srv:
        wait_port(port, srv, work / "intake.log")
        app_pids = lambda: procs.tree(srv.pid)  # noqa: E731 - workers may be re-forked: read each time
        db_pids = lambda: procs.tree(pg_pid) if pg_pid else []  # noqa: E731
        base = f"http://127.0.0.1:{port}"
        body = inspection(enterprise=1)
        warm = max(1.0, sizes.seconds / 5)
        wrk.run(f"{base}/bare", body, connections=sizes.connections, seconds=warm, token=token)
        wrk.run(f"{base}/api/v1/submissions", body, connections=sizes.connections, seconds=warm, token=token)

        measured: dict[str, dict[str, Any]] = {}
        for name, path in (("bare", "/bare"), ("single", "/api/v1/submissions")):
            app0, db0 = procs.cpu_seconds(app_pids()), procs.cpu_seconds(db_pids())
            workers = procs.children(srv.pid)
            per_worker0 = [procs.cpu_seconds([w]) for w in workers]
            res = wrk.run(
                f"{base}{path}", body, connections=sizes.connections, seconds=sizes.seconds, token=token
            )
            res["app_cpu_ms"] = (procs.cpu_seconds(app_pids()) - app0) * 1000 / max(1, res["requests"])
            res["db_cpu_ms"] = (procs.cpu_seconds(db_pids()) - db0) * 1000 / max(1, res["requests"])
            # each worker's share of the app's CPU: a keep-alive connection stays with its worker, and a run
            # whose connections landed mostly on one worker measured that worker's interpreter lock (read the
            # figure and its ceiling with their splits)
            res["worker_cpu_split"] = _shares(
                [procs.cpu_seconds([w]) - c for w, c in zip(workers, per_worker0, strict=True)]
            )
            measured[name] = res
        single, bare = measured["single"], measured["bare"]
        # The latency target is at half load: wrk offers half of the rate just measured, at a fixed pace, to
        # the intake and to the bare endpoint (the ceiling: what HTTP, Flask and the bearer check alone cost)
        half_rate = single["rate"] / 2
        half: dict[str, dict[str, Any]] = {}
        for name, path in (("bare", "/bare"), ("single", "/api/v1/submissions")):
            half[name] = wrk.run(
                f"{base}{path}",
                body,
                connections=sizes.connections,
                seconds=sizes.seconds,
                token=token,
                rate=half_rate,
            )
        run.details["intake_single"] = single
        run.details["intake_bare"] = bare
        run.details["intake_single_half"] = half["single"]
        run.details["intake_bare_half"] = half["bare"]
        conc = (
            f"{sizes.connections} connections, gunicorn -w {sizes.workers} (gthread x16); worker CPU split "
            f"{single['worker_cpu_split']} (bare {bare['worker_cpu_split']})"
        )
        run.rows += [
            Row(
                "intake single: submissions/s",
                single["rate"],
                "/s",
                bare["rate"],
                "bare Flask endpoint",
                ">= 0.5 of bare",
                f"wrk, {conc}; errors {single['errors']}",
                "intake_single_rate",
            ),
            Row(
                "intake single: p50", single["p50_ms"], "ms", bare["p50_ms"], "bare p50", "", "", "intake_p50"
            ),
            Row(
                "intake single: p95", single["p95_ms"], "ms", bare["p95_ms"], "bare p95", "", "", "intake_p95"
            ),
            Row(
                "intake single: p99",
                single["p99_ms"],
                "ms",
                bare["p99_ms"],
                "bare p99",
                "",
                "at full load",
                "intake_p99",
            ),
            *(
                Row(
                    f"intake single: {p} at half load",
                    half["single"][f"{p}_ms"],
                    "ms",
                    half["bare"][f"{p}_ms"],
                    f"bare {p}, same rate",
                    "<= 25 ms" if p == "p99" else "",
                    f"wrk paced at {half_rate:,.0f}/s (half the rate above); sent "
                    f"{half['single']['rate']:,.0f}/s, errors {half['single']['errors']}"
                    if p == "p99"
                    else "",
                    f"intake_half_{p}",
                )
                for p in ("p50", "p95", "p99")
            ),
            Row(
                "intake single: app CPU/submission",
                single["app_cpu_ms"],
                "ms",
                bare["app_cpu_ms"],
                "bare app CPU/request",
                "",
                f"PostgreSQL CPU/submission {single['db_cpu_ms']:.2f} ms",
                "intake_app_cpu",
            ),
        ]

        # batch intake, then the same rows inserted set-based into an empty copy of the schema.  Over as many
        # keep-alive connections as the single phase: a connection stays with the worker the kernel gave it,
        # and 4 of them sat on one worker of two in a run in eight (with one socket per worker; on a shared
        # socket in half the runs), one interpreter lock serving the batch then.  Warmed up like the single
        # endpoint (its statements prepared on the connections first); the warm-up rows are not the COPY's.
        def batch_bodies(n: int) -> tuple[list[dict[str, Any]], list[bytes]]:
            items = [inspection(enterprise=i % 9000 + 1) for i in range(n)]
            return items, [
                json.dumps({"submissions": items[i : i + sizes.batch_size]}).encode()
                for i in range(0, n, sizes.batch_size)
            ]

        batch_conns = sizes.connections
        drive(
            port,
            "/api/v1/submissions/batch",
            batch_bodies(sizes.batch_size * batch_conns * 2)[1],
            batch_conns,
            token=token,
        )
        n = sizes.batch_submissions
        items, batches = batch_bodies(n)
        app0, db0 = procs.cpu_seconds(app_pids()), procs.cpu_seconds(db_pids())
        seconds, lat, failures = drive(port, "/api/v1/submissions/batch", batches, batch_conns, token=token)
        batch_app_ms = (procs.cpu_seconds(app_pids()) - app0) * 1000 / n
        batch_db_ms = (procs.cpu_seconds(db_pids()) - db0) * 1000 / n
        batch_rate = n / seconds
    ids = [it["submission_id"] for it in items]
    copy_s = set_based_insert(pg, db_url, ids)
    run.details["intake_batch"] = {
        "submissions": n,
        "seconds": seconds,
        "failures": failures,
        "p95_ms": pct(lat, 95) * 1000,
        "set_based_seconds": copy_s,
        "app_cpu_ms": batch_app_ms,
        "db_cpu_ms": batch_db_ms,
    }
    run.rows.append(
        Row(
            "intake batch: submissions/s",
            batch_rate,
            "/s",
            n / copy_s,
            "COPY of the same rows",
            ">= 0.3 of COPY, >= 5000/s",
            f"batches of {sizes.batch_size}, {batch_conns} client connections; failures {failures}; "
            f"CPU/submission: app "
            f"{batch_app_ms:.2f} ms, PostgreSQL {batch_db_ms:.2f} ms",
            "intake_batch_rate",
        )
    )


def _shares(cpu: list[float]) -> str:
    """Each worker's share of ``cpu`` (seconds per worker) as ``a/b`` in percent, largest first."""
    total = sum(cpu) or 1.0
    return "/".join(f"{100 * c / total:.0f}" for c in sorted(cpu, reverse=True))


def set_based_insert(pg: PostgresServer, source_url: str, ids: list[str]) -> float:
    """Seconds to COPY the submissions ``ids``, their outbox rows and their audit-log entries, as the intake
    stored them (all three in the statement that stores a run of a batch), into a fresh database in one
    transaction: what PostgreSQL itself needs for those rows."""
    target_url = pg.fresh_database(f"bench_copy_{os.getpid()}")
    upgrade("intake", make_engine(target_url))
    upgrade("access", make_engine(target_url))
    src = _conninfo(make_url(source_url))
    dst = _conninfo(make_url(target_url))
    with psycopg.connect(src) as s:
        sub_cols = [
            r[0]
            for r in s.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'submissions' "
                "ORDER BY ordinal_position"
            )
        ]
        subs = s.execute("SELECT * FROM submissions WHERE id = ANY(%s)", (ids,)).fetchall()
        outbox = s.execute(
            "SELECT event_id, type, source, subject, key, time, data FROM outbox WHERE subject = ANY(%s) "
            "ORDER BY position",
            (ids,),
        ).fetchall()
        audit = s.execute(
            f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit_log WHERE target = ANY(%s) ORDER BY id", (ids,)
        ).fetchall()
    with psycopg.connect(dst) as d:
        t0 = time.perf_counter()
        with d.cursor() as cur:
            with cur.copy(f"COPY submissions ({', '.join(sub_cols)}) FROM STDIN") as cp:
                for r in subs:
                    cp.write_row(r)
            with cur.copy("COPY outbox (event_id, type, source, subject, key, time, data) FROM STDIN") as cp:
                for r in outbox:
                    cp.write_row(r)
            with cur.copy(f"COPY audit_log ({', '.join(AUDIT_COLUMNS)}) FROM STDIN") as cp:
                for r in audit:
                    cp.write_row(r)
        d.commit()
        return time.perf_counter() - t0


def script_phase(script: str, args: list[str], env: dict[str, str], work: Path) -> dict[str, Any]:
    out = work / f"{script}.json"
    log = work / f"{script}.log"
    with log.open("wb") as f:
        proc = subprocess.run(
            [PY, "-m", f"bench.{script}", *args, "--json", str(out)],
            cwd=ROOT,
            env=env,
            stdout=f,
            stderr=subprocess.STDOUT,
            timeout=3600,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"bench/{script}.py failed ({proc.returncode}):\n{log.read_text()[-4000:]}")
    return dict(json.loads(out.read_text()))


def relay_phase(run: Run, env: dict[str, str], work: Path) -> None:
    res = script_phase("relay_bench", ["--events", str(run.sizes.relay_events)], env, work)
    run.details["relay"] = res
    run.memory_mb["relay bench process (after relay)"] = res["peak_rss_mb"]
    run.rows.append(
        Row(
            "relay: events/s",
            res["relay_rate"],
            "/s",
            res["raw_rate"],
            "raw KafkaProducer (mean of before/after)",
            ">= 0.8 of raw",
            f"{res['events']} events of {res['value_bytes']:.0f} B; CPU/event: relay "
            f"{res['relay_cpu_us_per_event']:.0f} us"
            + (
                f" + PostgreSQL {db:.0f} us"
                if (db := res.get("relay_db_cpu_us_per_event")) is not None
                else ""
            )
            + f", raw {res['raw_cpu_us_per_event']:.0f} us",
            "relay_rate",
        )
    )


def aggregator_phase(run: Run, env: dict[str, str], work: Path) -> None:
    s = run.sizes
    res = script_phase(
        "aggregator_bench",
        [
            "--events",
            str(s.aggregator_events),
            "--aggregator-seconds",
            str(s.aggregator_seconds),
            *_processes(s),
            "--queries",
            str(s.report_queries),
        ],
        env,
        work,
    )
    run.details["aggregator"] = res
    run.memory_mb[f"aggregator: {_consumers(res)} (the largest)"] = res["peak_rss_mb"]
    state = "caught up" if res["caught_up"] else "budget reached, rate on what was applied"
    run.rows += [
        Row(
            "aggregator: events/s exact into PG",
            res["aggregator_rate"],
            "/s",
            res["raw_rate"],
            "raw KafkaConsumer",
            ">= 10000/s",
            f"{res['applied']:,} of {res['events']:,} events, {state}; {_consumers(res)} as deployed, rate "
            "from the first commit to the last; CPU/event: consumers "
            f"{res['consumer_cpu_us']:.0f} us, PostgreSQL {res['postgres_cpu_us'] or 0:.0f} us",
            "aggregator_rate",
        ),
        Row(
            "aggregator: events/s next to a COPY of its rows",
            res["aggregator_rate"],
            "/s",
            res["set_based_rate"],
            "COPY of the rows it wrote",
            "",
            "every table the apply step filled, written again into a fresh schema in one transaction (binary "
            "COPY, read beforehand): " + ", ".join(f"{t} {c:,}" for t, c in res["set_based_rows"].items()),
            "aggregator_set_based",
        ),
        Row(
            "report latency p95",
            res["report_p95_ms"],
            "ms",
            None,
            "",
            "<= 20 ms at 1M",
            f"district 330700, quarter, over {res['applied']:,} events",
            "report_p95",
        ),
    ]


def _processes(sizes: Sizes) -> list[str]:
    return ["--processes", str(sizes.aggregator_processes)] if sizes.aggregator_processes else []


def _consumers(res: dict[str, Any]) -> str:
    """How the aggregator bench ran the consumer (its row's note and memory label)."""
    n = res.get("processes", 0)
    return f"{n} x score aggregator consume" if n else "one Consumer in the bench process"


def reports_phase(run: Run, pg: PostgresServer) -> None:
    """Report latency over ``report_submissions`` stored submissions, seeded set-based (bench/seed_reports.py):
    p95 of the district report, Jinhua's quarter (as in the aggregator row) and the province's; p95 of the
    dashboard's chart JSON and of the dashboard page, the province's quarter, through the reports app (a
    Flask test client with a ministry credential: server time, no network)."""
    s = run.sizes
    url = pg.fresh_database(f"reports_{uuid.uuid4().hex[:8]}")
    engine = make_engine(url)
    upgrade("aggregator", engine)
    seeded = seed(engine, s.report_submissions, s.report_template)
    period = views.period_of("quarter", date(2026, 11, 20))

    def p95(code: str) -> float:
        lat = []
        for _ in range(s.report_queries):
            t0 = time.perf_counter()
            views.district_report(engine, code, period, None, date(2026, 11, 27))
            lat.append(time.perf_counter() - t0)
        return pct(lat, 95) * 1000

    jinhua, province = p95("330700"), p95("330000")
    view, page = dashboard_p95(url, s.report_queries)
    run.details["reports"] = {
        "submissions": seeded.submissions,
        "seed_seconds": seeded.seconds,
        "p95_ms_330700_quarter": jinhua,
        "p95_ms_330000_quarter": province,
        "dashboard_view_ms_330000_quarter": view,
        "dashboard_page_ms_330000_quarter": page,
    }
    run.rows.append(
        Row(
            f"report p95 at {seeded.submissions:,} submissions",
            jinhua,
            "ms",
            None,
            "",
            "<= 20 ms at 1M",
            f"Jinhua 330700 quarter; province 330000 quarter p95 {province:.0f} ms; "
            f"seeded set-based in {seeded.seconds:.0f} s",
            "report_p95_seeded",
        )
    )
    run.rows.append(
        Row(
            f"dashboard view JSON p95 at {seeded.submissions:,} submissions",
            pct(view, 95),
            "ms",
            None,
            "",
            "<= 1 s at 1M",
            f"GET /api/v1/dashboard/330000, quarter, 12-quarter trend: the charts' summary, comparison, "
            f"drill-down, industries, trend and hazard picture; median {pct(view, 50):.0f} ms",
            "dashboard_view_p95_seeded",
        )
    )
    run.rows.append(
        Row(
            f"dashboard page p95 at {seeded.submissions:,} submissions",
            pct(page, 95),
            "ms",
            None,
            "",
            "<= 1 s at 1M",
            f"GET / (the frame and its overview of 4 divisions), quarter; median {pct(page, 50):.0f} ms",
            "dashboard_page_p95_seeded",
        )
    )


#: the dashboard's query in the reports row: the province's quarter, as of a day after it was seeded
DASHBOARD_QUERY = {"period": "quarter", "date": "2026-11-20", "as_of": "2026-11-27"}


def dashboard_p95(url: str, runs: int) -> tuple[list[float], list[float]]:
    """Server times (ms) of the dashboard's chart JSON and of its page over the database at ``url``: the
    reports app called through Flask's test client (the WSGI call timed, no network), a ministry credential
    for the province."""
    settings = Settings(
        intake_database_url=url, aggregator_database_url=url, rate_limit_credential="", rate_limit_address=""
    )
    upgrade("access", make_engine(settings.access_url))
    access = access_bootstrap(settings)
    token = access.issue("bench-dashboard", ["ministry"], ["330000"]).token
    client = reports_app(settings, aggregator_bootstrap(settings), access).test_client()
    headers = {"Authorization": f"Bearer {token}"}

    def timed(path: str) -> list[float]:
        client.get(path, query_string=DASHBOARD_QUERY, headers=headers)  # warm: templates, first connections
        out = []
        for _ in range(runs):
            t0 = time.perf_counter()
            resp = client.get(path, query_string=DASHBOARD_QUERY, headers=headers)
            out.append((time.perf_counter() - t0) * 1000)
            if resp.status_code != 200:
                raise RuntimeError(f"GET {path}: {resp.status_code} {resp.get_data(as_text=True)[:300]}")
        return out

    view = timed("/api/v1/dashboard/330000")
    page = timed("/")
    return view, page


def replay_phase(run: Run, env: dict[str, str], work: Path, events: int) -> None:
    """Opt-in (``--only replay --events 1000000``): a fresh consumer replays a topic of ``events`` events to
    its end, measured, not extrapolated (the aggregator row stops at a time budget)."""
    res = script_phase(
        "aggregator_bench",
        [
            "--events",
            str(events),
            "--aggregator-seconds",
            "3600",
            "--queries",
            str(run.sizes.report_queries),
            *_processes(run.sizes),
        ],
        env,
        work,
    )
    run.details["replay"] = res
    run.memory_mb[f"aggregator replaying {events:,} events ({_consumers(res)}, the largest)"] = res[
        "peak_rss_mb"
    ]
    run.rows.append(
        Row(
            f"replay of {events:,} events (s)",
            res["aggregator_seconds"],
            "s",
            events / res["raw_rate"],
            "raw KafkaConsumer, same topic",
            "<= 100 s at 1M",
            f"{res['aggregator_rate']:,.0f}/s; CPU/event: consumer {res['consumer_cpu_us']:.0f} us, "
            f"PostgreSQL {res['postgres_cpu_us'] or 0:.0f} us; "
            f"{'caught up' if res['caught_up'] else 'NOT caught up'}; {_consumers(res)}, seconds from their "
            "start to the last record applied",
            "replay_seconds",
        )
    )


def freshness_phase(
    run: Run, pg: PostgresServer, broker: KafkaBroker, work: Path, env: dict[str, str], extra: dict[str, int]
) -> None:
    """The real processes on Kafka: 201 from the intake -> the figure visible in the report API."""
    name = f"fresh_{uuid.uuid4().hex[:8]}"
    intake_port, reports_port = free_port(), free_port()
    app_env = {
        **env,
        **broker.admin.env(),
        "SCORE_INTAKE_DATABASE_URL": pg.fresh_database(f"{name}_intake"),
        "SCORE_AGGREGATOR_DATABASE_URL": pg.fresh_database(f"{name}_agg"),
        "SCORE_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "SCORE_TOPIC": f"score.{name}.v1",
        "SCORE_DEAD_LETTER_TOPIC": f"score.{name}.dlq.v1",
        "SCORE_ROLLUP_TOPIC": f"score.{name}.rollups.v1",
        "SCORE_CONSUMER_GROUP": f"g-{name}",
    }
    score = str(BIN / "score")
    subprocess.run([score, "migrate"], cwd=ROOT, env=app_env, check=True, capture_output=True, timeout=300)
    access = AccessStore(make_engine(app_env["SCORE_INTAKE_DATABASE_URL"]))
    token = access.issue("bench-freshness", ["collector", "ministry"], ["330000"]).token
    with (
        process([score, "relay"], app_env, work / "relay.log") as relay,
        process([score, "aggregator", "consume"], app_env, work / "consumer.log") as consumer,
        process(
            gunicorn("services.intake.entrypoints.app:create_app()", intake_port, run.sizes.workers),
            app_env,
            work / "fresh-intake.log",
        ) as intake,
        process(
            gunicorn("services.aggregator.entrypoints.app:create_app()", reports_port, 1),
            app_env,
            work / "fresh-reports.log",
        ) as reports,
    ):
        wait_port(intake_port, intake, work / "fresh-intake.log")
        wait_port(reports_port, reports, work / "fresh-reports.log")
        conns: dict[int, http.client.HTTPConnection] = {}
        day = date(2026, 11, 20)
        path = f"/api/v1/reports/districts/330784?period=quarter&date={day.isoformat()}"

        def call(port: int, method: str, url: str, body: bytes | None = None) -> tuple[int, bytes]:
            """One request on a kept-alive connection, opened again if the server closed it (gunicorn's
            keepalive is 5 s)."""
            for attempt in (1, 2):
                conn = conns.get(port) or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conns[port] = conn
                try:
                    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
                    conn.request(method, url, body=body, headers=headers)
                    resp = conn.getresponse()
                    return resp.status, resp.read()
                except (ConnectionError, http.client.HTTPException):
                    conn.close()
                    del conns[port]
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")

        def inspections() -> int:
            status, body = call(reports_port, "GET", path)
            if status != 200:
                raise RuntimeError(f"report answered {status}: {body[:300]!r}")
            return int(json.loads(body)["figures"]["inspections"])

        def sample(deadline_s: float) -> float:
            before = inspections()
            payload = json.dumps(inspection("330784", 1, day)).encode()
            status, _ = call(intake_port, "POST", "/api/v1/submissions", payload)
            t0 = time.perf_counter()
            if status != 201:
                raise RuntimeError(f"intake answered {status}")
            deadline = t0 + deadline_s
            while inspections() <= before:
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"submission not visible in the report after {deadline_s:.0f}s")
                time.sleep(0.002)
            return time.perf_counter() - t0

        sample(120.0)  # warm-up: the consumer joins its group, the producer connects; not counted
        lat = [sample(30.0) for _ in range(run.sizes.freshness_samples)]
        for conn in conns.values():
            conn.close()
        run.details["freshness_ms"] = [x * 1000 for x in lat]
        run.memory_mb["intake gunicorn (largest worker)"] = procs.peak_rss_mb(procs.children(intake.pid))
        run.memory_mb["reports gunicorn (largest worker)"] = procs.peak_rss_mb(procs.children(reports.pid))
        run.memory_mb["score relay"] = procs.peak_rss_mb([relay.pid])
        run.memory_mb["score aggregator consume"] = procs.peak_rss_mb([consumer.pid])
    for label, pid in extra.items():
        run.memory_mb[label] = procs.peak_rss_mb(procs.tree(pid) if "PostgreSQL" in label else [pid])
    run.rows += [
        Row(
            "freshness p50 (201 -> report)",
            pct(lat, 50) * 1000,
            "ms",
            None,
            "",
            "",
            f"{len(lat)} samples, on Kafka",
            "freshness_p50",
        ),
        Row(
            "freshness p95 (201 -> report)",
            pct(lat, 95) * 1000,
            "ms",
            None,
            "",
            "<= 100 ms",
            "the relay LISTENs for outbox inserts",
            "freshness_p95",
        ),
    ]


# -- output ----------------------------------------------------------------------------------------------


def _num(v: float | None, unit: str = "") -> str:
    if v is None:
        return "-"
    text = f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}"
    return f"{text} {unit}".rstrip()


def table(run: Run, previous: dict[str, Any] | None) -> str:
    prev = {r["key"]: r["figure"] for r in (previous or {}).get("rows", []) if r.get("key")}
    head = ["stage", "figure", "ceiling (same run)", "ratio", "target", "previous run", "note"]
    lines = []
    for r in run.rows:
        ceiling = f"{_num(r.ceiling, r.unit)} {r.ceiling_name}".strip() if r.ceiling is not None else "-"
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        lines.append(
            [r.stage, _num(r.figure, r.unit), ceiling, ratio, r.target, _num(prev.get(r.key), r.unit), r.note]
        )
    for label, mb in sorted(run.memory_mb.items()):
        lines.append([f"peak RSS: {label}", f"{mb:,.0f} MiB", "-", "-", "", "", ""])
    widths = [max(len(str(x[i])) for x in [head, *lines]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*ln) for ln in lines]
    return "\n".join(x.rstrip() for x in out)


def latest_result(results: Path, quick: bool) -> dict[str, Any] | None:
    """The newest results file of the same kind (quick or full) in ``results``, if any."""
    for path in sorted(results.glob("*.json"), reverse=True):
        try:
            found = dict(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
        if bool(found.get("quick")) == quick:
            return found
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: a smoke run whose figures mean nothing"
    )
    parser.add_argument(
        "--results-dir", type=Path, default=ROOT / "bench" / "results", help="where results files go"
    )
    parser.add_argument(
        "--only",
        default="intake,relay,aggregator,reports,freshness",
        help="comma-separated phases to run (default: all of intake,relay,aggregator,reports,freshness; "
        "opt-in: replay, a full replay of --events events)",
    )
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="events of the replay phase (default 1000000)"
    )
    parser.add_argument("--seconds", type=float, help="wrk duration per endpoint (default 10)")
    parser.add_argument(
        "--aggregator-events", type=int, help="events the aggregator replays (default 100000)"
    )
    parser.add_argument(
        "--aggregator-processes",
        type=int,
        help="score aggregator consume processes of the aggregator and replay rows (default: the production "
        "setting, README 'Benchmarks')",
    )
    args = parser.parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes()
    if args.aggregator_processes:
        sizes.aggregator_processes = args.aggregator_processes
    if args.seconds:
        sizes.seconds = args.seconds
    if args.aggregator_events:
        sizes.aggregator_events = args.aggregator_events
    if wrk.available() is None:
        print("wrk is not installed: `make bench` installs it (apt-get install wrk)", file=sys.stderr)
        return 2
    run = Run(sizes)
    started = datetime.now(UTC)
    wall = time.perf_counter()
    info = machine()
    with tempfile.TemporaryDirectory(prefix="score-bench-") as tmp:
        work = Path(tmp)
        print("starting (or reusing) PostgreSQL and Kafka ...", flush=True)
        pg = PostgresServer.from_env_or_start(work / "pg")
        broker = KafkaBroker.from_env_or_start(work / "kafka")
        try:
            pg_port = make_url(pg.url).port or 5432
            kafka_port = int(broker.bootstrap.rsplit(":", 1)[1])
            pg_pid, kafka_pid = procs.pid_listening(pg_port), procs.pid_listening(kafka_port)
            # the phases in child processes reuse these servers, logged in as this run's admin
            env = {
                **os.environ,
                DATABASE_ENV: pg.url,
                KAFKA_ENV: broker.bootstrap,
                KAFKA_USERNAME_ENV: broker.admin.username,
                KAFKA_PASSWORD_ENV: broker.admin.password,
                "PYTHONPATH": str(ROOT),
            }
            env.pop("SCORE_TEST_KAFKA_PASSWORD_FILE", None)
            # each gunicorn makes a metrics directory of its own (the freshness phase runs two at once)
            env.pop("PROMETHEUS_MULTIPROC_DIR", None)
            phases = set(args.only.split(","))
            if "intake" in phases:
                print("intake (single with wrk, then batch) ...", flush=True)
                intake_phase(run, pg, pg_pid, work, env)
            if "relay" in phases:
                print("relay ...", flush=True)
                relay_phase(run, env, work)
            if "aggregator" in phases:
                print("aggregator ...", flush=True)
                aggregator_phase(run, env, work)
            if "reports" in phases:
                print(f"reports over {sizes.report_submissions:,} seeded submissions ...", flush=True)
                reports_phase(run, pg)
            if "replay" in phases:
                print(f"replay of {args.events:,} events ...", flush=True)
                replay_phase(run, env, work, args.events)
            if "freshness" in phases:
                print("freshness (real processes on Kafka) ...", flush=True)
                extra = {}
                if pg_pid:
                    extra["PostgreSQL (largest process)"] = pg_pid
                if kafka_pid:
                    extra["Kafka broker"] = kafka_pid
                freshness_phase(run, pg, broker, work, env, extra)
        finally:
            if not broker.external:
                broker.stop()
            if not pg.external:
                pg.stop()

    commit = git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    args.results_dir.mkdir(parents=True, exist_ok=True)
    previous = latest_result(args.results_dir, args.quick)
    result = {
        "date": started.isoformat(),
        "commit": commit,
        "dirty": dirty,
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "quick": args.quick,
        "phases": args.only,
        "machine": info,
        "sizes": asdict(sizes),
        "rows": [{**asdict(r), "ratio": r.ratio} for r in run.rows],
        "peak_rss_mb": run.memory_mb,
        "details": run.details,
        "wall_seconds": time.perf_counter() - wall,
    }
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    path = args.results_dir / f"{stamp}-{commit[:10] or 'nogit'}{'-dirty' if dirty else ''}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")

    print()
    print(
        f"SCORE benchmark {'(QUICK: smoke sizes, figures mean nothing) ' if args.quick else ''}"
        f"{stamp} commit {commit[:10]}{' (dirty)' if dirty else ''} on {info['hostname']}: "
        f"{info['cpus']} cpus {info['cpu_model']}, load {info['load_average_at_start'][0]:.1f} at start"
    )
    print(table(run, previous))
    if previous:
        print(f"previous run: {previous.get('date')} commit {str(previous.get('commit'))[:10]}")
    print(f"results: {path}  ({result['wall_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
