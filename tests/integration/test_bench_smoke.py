"""``make bench --quick`` end to end: every stage runs against the real servers, prints one table and writes a
results file whose figures are sane.  The sizes are tiny, so no figure is judged against a target here: this
is not a timed test, it proves the benchmark itself works and measures what it says."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import (
    DATABASE_ENV,
    KAFKA_ENV,
    KAFKA_PASSWORD_ENV,
    KAFKA_USERNAME_ENV,
    KafkaBroker,
    PostgresServer,
    on_ci,
)

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

STAGES = {
    "intake_single_rate",
    "intake_p50",
    "intake_p95",
    "intake_p99",
    "intake_half_p50",
    "intake_half_p95",
    "intake_half_p99",
    "intake_app_cpu",
    "intake_batch_rate",
    "relay_rate",
    "aggregator_rate",
    "aggregator_set_based",
    "report_p95",
    "report_p95_seeded",
    "dashboard_view_p95_seeded",
    "dashboard_page_p95_seeded",
    "freshness_p50",
    "freshness_p95",
}


@pytest.mark.timeout(900)
def test_quick_bench_prints_one_table_and_writes_a_results_file(
    kafka_broker: KafkaBroker, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    if shutil.which("wrk") is None:
        if on_ci():
            pytest.fail("wrk is not installed (make bench / make test install it: apt-get install wrk)")
        pytest.skip("wrk is not installed; CI=true makes this an error")
    results = tmp_path / "results"
    env = {
        **os.environ,
        DATABASE_ENV: postgres_server.url,
        KAFKA_ENV: kafka_broker.bootstrap,
        KAFKA_USERNAME_ENV: kafka_broker.admin.username,
        KAFKA_PASSWORD_ENV: kafka_broker.admin.password,
    }
    for attempt in (1, 2):  # the second run must name the first as its previous run
        proc = subprocess.run(
            [sys.executable, "-m", "bench.run", "--quick", "--results-dir", str(results)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=800,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert len(list(results.glob("*.json"))) == attempt
    out = proc.stdout

    # one table: a header, then a line per stage and per process measured
    assert out.count("stage  ") == 1, out
    for stage in (
        "intake single: submissions/s",
        "intake batch",
        "relay: events/s",
        "aggregator: events/s",
        "freshness p95",
        "report latency p95",
        "report p95 at 4,000 submissions",
        "dashboard view JSON p95 at 4,000 submissions",
        "dashboard page p95 at 4,000 submissions",
        "peak RSS: score relay",
        "peak RSS: PostgreSQL",
    ):
        assert stage in out, (stage, out)
    assert "previous run:" in out

    newest = max(results.glob("*.json"))
    result = json.loads(newest.read_text())
    assert result["quick"] is True
    assert len(result["commit"]) == 40
    assert result["machine"]["cpus"] >= 1
    rows = {r["key"]: r for r in result["rows"]}
    assert set(rows) == STAGES
    for key, row in rows.items():
        assert math.isfinite(row["figure"]) and row["figure"] > 0, (key, row)
    for key in (
        "intake_single_rate",
        "intake_batch_rate",
        "relay_rate",
        "aggregator_rate",
        "aggregator_set_based",
    ):
        assert rows[key]["ceiling"] > 0 and 0 < rows[key]["ratio"] < 100, (key, rows[key])
    assert rows["freshness_p50"]["figure"] <= rows["freshness_p95"]["figure"]

    details = result["details"]
    assert details["intake_single"]["errors"] == 0 and details["intake_bare"]["errors"] == 0
    assert details["intake_single"]["requests"] > 0
    # the half-load runs were offered half the single rate, at a fixed pace, and answered without errors
    half = details["intake_single_half"]
    assert half["offered_rate"] == pytest.approx(details["intake_single"]["rate"] / 2)
    assert details["intake_bare_half"]["offered_rate"] == half["offered_rate"]
    assert half["errors"] == 0 and details["intake_bare_half"]["errors"] == 0 and half["requests"] > 0
    assert details["intake_batch"]["failures"] == 0
    assert details["relay"]["events"] == result["sizes"]["relay_events"]
    agg = details["aggregator"]
    assert agg["caught_up"] and agg["applied"] == agg["events"] == result["sizes"]["aggregator_events"]
    assert agg["dead_letters"] == 0
    # the set-based ceiling wrote the rows of every event applied (one claim each) and the facts they made
    assert agg["set_based_rows"]["processed_events"] == agg["applied"]
    assert 0 < agg["set_based_rows"]["facts"] <= agg["applied"]
    assert len(details["freshness_ms"]) == result["sizes"]["freshness_samples"]
    for label, mb in result["peak_rss_mb"].items():
        assert 1 < mb < 8192, (label, mb)
