"""Intake throughput and latency against real PostgreSQL, next to a bare Flask endpoint in the same run.

Starts PostgreSQL with the project's script (or uses SCORE_TEST_DATABASE_URL), serves the intake with
gunicorn, and drives it from this process with keep-alive HTTP connections in threads:

- bare:   POST /bare (JSON parse, no validation, no database) - the baseline;
- single: POST /api/v1/submissions, one inspection per request (validate, store + outbox, commit);
- batch:  POST /api/v1/submissions/batch, 50 inspections per request.

Prints submissions/s and latency percentiles for each, and the ratio single/bare.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.builders import inspection  # noqa: E402
from tests.servers import PostgresServer, free_port  # noqa: E402

#: the bench's collector credential, set in main()
HEADERS = {"Content-Type": "application/json"}


def drive(
    port: int, path: str, bodies: list[bytes], concurrency: int, token: str | None = None
) -> tuple[float, list[float], int]:
    """Send every body once over ``concurrency`` keep-alive connections: (seconds, latencies, failures).
    ``token``: the bearer credential to send (default: the one ``main`` issued into ``HEADERS``).

    Each connection takes the next body when its answer is in, from one queue: a connection stays with the
    gunicorn worker the kernel gave it (by chance of its address), so with a fixed share per connection the
    worker that got more connections was still working through them when the other had finished: for the
    last seconds of a batch run one process served alone, and a core stood idle (~25 % in vmstat)."""
    headers = {**HEADERS, "Authorization": f"Bearer {token}"} if token else HEADERS
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    todo: queue.SimpleQueue[bytes] = queue.SimpleQueue()
    for body in bodies:
        todo.put(body)

    def worker() -> None:
        nonlocal failures
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        bad = 0
        while True:
            try:
                body = todo.get_nowait()
            except queue.Empty:
                break
            t0 = time.perf_counter()
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            mine.append(time.perf_counter() - t0)
            if resp.status not in (200, 201, 207):
                bad += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            failures += bad

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, latencies, failures


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def report(name: str, submissions: int, seconds: float, lat: list[float], failures: int) -> float:
    rate = submissions / seconds
    print(
        f"{name:<7} {submissions:>6} submissions in {seconds:6.2f}s = {rate:8.1f}/s   "
        f"latency p50 {pct(lat, 50):6.1f} ms  p95 {pct(lat, 95):6.1f} ms  p99 {pct(lat, 99):6.1f} ms  "
        f"max {max(lat) * 1000:6.1f} ms  failures {failures}"
    )
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--submissions", type=int, default=3000, help="submissions per run (default 3000)")
    parser.add_argument("--concurrency", type=int, default=8, help="client connections (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (default 4)")
    parser.add_argument("--batch", type=int, default=50, help="submissions per batch request (default 50)")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="score-bench-"))
    pg = PostgresServer.from_env_or_start(tmp / "pg")
    db_url = pg.fresh_database(f"bench_intake_{os.getpid()}")
    env = {
        **os.environ,
        "SCORE_INTAKE_DATABASE_URL": db_url,
        "SCORE_AGGREGATOR_DATABASE_URL": db_url,
        # Kafka mode for the outbox (no advisory lock serialising commits); the relay is not run here.
        "SCORE_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
        "SCORE_MAX_REQUEST_BYTES": "20000000",
        "SCORE_BATCH_LIMIT": str(max(args.batch, 100)),
        # a benchmark is a flood from one credential and one address by design
        "SCORE_RATE_LIMIT_CREDENTIAL": "",
        "SCORE_RATE_LIMIT_ADDRESS": "",
    }
    from services.common.db import make_engine
    from services.common.migrate import upgrade

    upgrade("intake", make_engine(db_url))
    upgrade("access", make_engine(db_url))
    from services.access import AccessStore

    token = AccessStore(make_engine(db_url)).issue("bench-collector", ["collector"], ["330000"]).token
    HEADERS["Authorization"] = f"Bearer {token}"
    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "-w",
            str(args.workers),
            "--threads",
            str(args.threads),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "bench.intake_wsgi:app",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        n = args.submissions
        print(
            f"intake benchmark: PostgreSQL {pg.url.split('@')[-1]}, gunicorn {args.workers}x{args.threads}, "
            f"{args.concurrency} client connections, {os.cpu_count()} cores"
        )
        warm = [json.dumps(inspection(enterprise=i)).encode() for i in range(200)]
        drive(port, "/api/v1/submissions", warm, args.concurrency)
        drive(port, "/bare", warm, args.concurrency)

        bodies = [json.dumps(inspection(enterprise=i % 9000 + 1)).encode() for i in range(n)]
        bare_rate = report("bare", n, *drive(port, "/bare", bodies, args.concurrency))
        single_rate = report("single", n, *drive(port, "/api/v1/submissions", bodies, args.concurrency))
        batch_items = [inspection(enterprise=i % 9000 + 1) for i in range(n)]
        batches = [
            json.dumps({"submissions": batch_items[i : i + args.batch]}).encode()
            for i in range(0, n, args.batch)
        ]
        seconds, lat, failures = drive(port, "/api/v1/submissions/batch", batches, args.concurrency)
        batch_rate = report("batch", n, seconds, lat, failures)
        print(
            f"ratio single/bare = {single_rate / bare_rate:.2f}   batch/bare = {batch_rate / bare_rate:.2f}"
        )
        return 0
    finally:
        server.terminate()
        server.wait(timeout=30)
        if pg.dir is not None:
            pg.stop()


if __name__ == "__main__":
    raise SystemExit(main())
