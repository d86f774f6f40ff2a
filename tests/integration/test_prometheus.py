"""``GET /metrics`` in the Prometheus text format, parsed by prometheus-client's own parser; the alert rules
checked by promtool; under gunicorn, one scrape counts every worker's requests (multiprocess mode)."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from services.access import AccessStore
from services.access import bootstrap as access_bootstrap
from services.aggregator.entrypoints.metrics import consumer_families
from services.common.config import Settings
from services.common.db import make_engine
from services.common.migrate import upgrade
from services.eventlog.metrics import relay_counter_families
from services.intake.bootstrap import bootstrap
from services.intake.entrypoints.app import create_app
from tests.builders import NOW, inspection, survey
from tests.conftest import System, authorize, operator_token
from tests.integration.test_gunicorn import _wait, documented_command, on_loopback
from tests.servers import REPO_ROOT, free_port, on_ci

RULES = REPO_ROOT / "deploy" / "prometheus"


class _Collect(Collector):
    def __init__(self, make: Callable[[], list[Metric]]) -> None:
        self._make = make

    def collect(self) -> Iterable[Metric]:
        return self._make()


def samples(text: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(found: Iterable[Sample], name: str, **labels: str) -> float:
    matching = [s.value for s in found if s.name == name and labels.items() <= s.labels.items()]
    assert matching, f"no sample {name} {labels}"
    return sum(matching)


def counted(before: list[Sample], after: list[Sample], name: str, **labels: str) -> float:
    """How much a counter grew between two scrapes (request counters are per process, and one test process
    serves many apps)."""
    was = [s for s in before if s.name == name and labels.items() <= s.labels.items()]
    return value(after, name, **labels) - sum(s.value for s in was)


def test_the_intake_scrape_has_requests_latency_and_the_outbox(intake_settings: Settings) -> None:
    settings = replace(intake_settings, kafka_bootstrap_servers="127.0.0.1:9")  # the relay runs elsewhere
    access = access_bootstrap(settings)
    app = create_app(settings, bootstrap(settings, clock=lambda: NOW), access)
    client = authorize(app, operator_token(access)).test_client()
    start = samples(client.get("/metrics").get_data(as_text=True))
    assert client.post("/api/v1/submissions", json=inspection()).status_code == 201
    assert client.post("/api/v1/submissions", json={"form": "nothing"}).status_code == 422
    assert client.get("/no/such/path/123").status_code == 404
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.content_type.startswith("text/plain; version=0.0.4")
    found = samples(resp.get_data(as_text=True))

    post = {"service": "intake", "endpoint": "/api/v1/submissions", "method": "POST"}
    assert counted(start, found, "score_http_requests_total", **post, status="201") == 1
    assert counted(start, found, "score_http_requests_total", **post, status="422") == 1
    # a path no route matches is counted under one label, whatever the path
    assert counted(start, found, "score_http_requests_total", endpoint="<unmatched>", status="404") == 1
    assert counted(start, found, "score_http_request_duration_seconds_count", **post, status="201") == 1
    inf = {**post, "status": "201", "le": "+Inf"}
    assert counted(start, found, "score_http_request_duration_seconds_bucket", **inf) == 1
    assert value(found, "score_outbox_backlog") == 1
    assert value(found, "score_outbox_oldest_unpublished_age_seconds") >= 0
    assert value(found, "score_outbox_published_total") == 0
    assert value(found, "score_event_log_info", event_log="kafka") == 1
    # the JSON view is kept beside it
    assert client.get("/metrics.json").get_json()["backlog"] == 1


def test_the_embedded_intake_has_no_backlog_series(client: Any) -> None:
    """No relay on the embedded log: backlog and age are absent (not 0), so no alert pretends to watch them."""
    client.post("/api/v1/submissions", json=inspection())
    found = samples(client.get("/metrics").get_data(as_text=True))
    names = {s.name for s in found}
    assert "score_outbox_backlog" not in names and "score_outbox_oldest_unpublished_age_seconds" not in names
    assert value(found, "score_outbox_last_position") == 1
    assert value(found, "score_event_log_info", event_log="sql") == 1


def test_the_reports_scrape_has_positions_lag_and_the_reconciliation(system: System) -> None:
    start = samples(system.reports.get("/metrics").get_data(as_text=True))
    for i in range(4):
        assert system.post(inspection(enterprise=i + 1)).status_code == 201
        assert system.post(survey(enterprise=i + 1)).status_code == 201
    system.sync()
    system.report("330784")
    found = samples(system.reports.get("/metrics").get_data(as_text=True))
    assert value(found, "score_aggregator_facts") == 8
    assert value(found, "score_aggregator_dead_letters") == 0
    assert value(found, "score_aggregator_log_up") == 1
    partitions = [s for s in found if s.name == "score_aggregator_log_consistent"]
    assert partitions and all(s.value == 1 for s in partitions)
    assert all(s.value == 0 for s in found if s.name == "score_aggregator_log_lag")
    assert value(found, "score_aggregator_log_handled") == 8
    assert value(found, "score_aggregator_position") >= 0
    report = {"service": "aggregator", "endpoint": "/api/v1/reports/districts/<code>", "status": "200"}
    assert counted(start, found, "score_http_requests_total", **report) == 1
    json_view = system.reports.get("/metrics.json").get_json()
    assert json_view["log"]["consistent"] is True and json_view["facts"] == 8


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        message = "promtool not installed (apt-get install prometheus; `make servers` does)"
        if on_ci():
            pytest.fail(f"{message}; CI is set, so this is not skipped")
        pytest.skip(message)
    return path


def test_promtool_accepts_the_rules_the_config_and_the_alert_tests(tmp_path: Path) -> None:
    promtool = _promtool()
    # promtool checks that the scrape config's token file exists: a copy with a stand-in token beside it
    config_dir = tmp_path / "prometheus"
    shutil.copytree(RULES, config_dir)
    (config_dir / "score-token").write_text("score_stand-in-token\n")
    for args in (
        ["check", "rules", "alerts.yml"],
        ["check", "config", "prometheus.yml"],
        ["test", "rules", "alerts.test.yml"],
    ):
        proc = subprocess.run([promtool, *args], cwd=config_dir, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, f"promtool {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"


def test_every_metric_an_alert_uses_is_one_the_services_expose(
    intake_settings: Settings, system: System
) -> None:
    """An alert on a misspelt or renamed metric never fires: each name in an expression must be scraped."""
    settings = replace(intake_settings, kafka_bootstrap_servers="127.0.0.1:9")
    access = access_bootstrap(settings)
    app = create_app(settings, bootstrap(settings, clock=lambda: NOW), access)
    intake = authorize(app, operator_token(access)).test_client()
    intake.post("/api/v1/submissions", json=inspection())
    system.post(inspection())
    system.sync()
    exposed = {s.name for s in samples(intake.get("/metrics").get_data(as_text=True))}
    exposed |= {s.name for s in samples(system.reports.get("/metrics").get_data(as_text=True))}
    # what `score relay` and `score aggregator consume` serve on SCORE_METRICS_PORT
    registry = CollectorRegistry()
    registry.register(
        _Collect(lambda: consumer_families(system.consumer.stats) + relay_counter_families(1, 0))
    )
    exposed |= {s.name for s in samples(generate_latest(registry).decode())}
    rules = yaml.safe_load((RULES / "alerts.yml").read_text())
    used = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert {"alert", "expr", "labels", "annotations"} <= rule.keys(), rule
            assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
            used |= set(re.findall(r"\b(score_[a-z_]+)", rule["expr"]))
    assert used and used <= exposed, f"alerts use metrics nobody exposes: {sorted(used - exposed)}"


def test_gunicorn_workers_are_counted_together(tmp_path: Path) -> None:
    """The documented intake command with its workers: whichever worker answers a scrape, it counts the
    requests every worker served."""
    upgrade("intake", make_engine(f"sqlite:///{tmp_path / 'intake.db'}"))
    upgrade("access", make_engine(f"sqlite:///{tmp_path / 'intake.db'}"))
    token = operator_token(AccessStore(make_engine(f"sqlite:///{tmp_path / 'intake.db'}")))
    metrics_dir = tmp_path / "prometheus"
    env = {
        **os.environ,
        "SCORE_INTAKE_DATABASE_URL": f"sqlite:///{tmp_path / 'intake.db'}",
        "SCORE_AGGREGATOR_DATABASE_URL": f"sqlite:///{tmp_path / 'aggregator.db'}",
        "SCORE_KAFKA_BOOTSTRAP_SERVERS": "",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    metrics_dir.mkdir()
    (metrics_dir / "counter_99999999.db").write_bytes(b"left by an earlier run")  # emptied at start
    argv = documented_command()
    workers = int(argv[argv.index("-w") + 1])
    port = free_port()
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            on_loopback(argv, port), cwd=REPO_ROOT, env=env, stdout=out, stderr=out, start_new_session=True
        )

    def get(path: str) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:  # a new connection each time, so the kernel spreads them over the workers
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            resp = conn.getresponse()
            return resp.status, resp.read().decode()
        finally:
            conn.close()

    try:
        _wait(lambda: log.read_text().count("Booting worker") >= workers, 90, "the workers to boot")
        _wait(lambda: _answers(get), 30, "the intake to answer")
        before = value(samples(get("/metrics")[1]), "score_http_requests_total", endpoint="/healthz")

        def writers() -> set[str]:
            return {p.name.rsplit("_", 1)[1] for p in metrics_dir.glob("counter_*.db")}

        # which worker accepts a connection is the kernel's choice: ask until at least two have counted
        sent, deadline = 0, time.monotonic() + 60
        while sent < 60 or len(writers()) < 2:
            assert time.monotonic() < deadline, f"one worker answered all {sent} requests: {writers()}"
            assert get("/healthz")[0] == 200
            sent += 1
        assert "99999999.db" not in writers()  # the file left by an earlier run was emptied at start
        for _ in range(2 * workers):
            counted = value(samples(get("/metrics")[1]), "score_http_requests_total", endpoint="/healthz")
            assert counted == before + sent
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def _answers(get: Any) -> bool:
    try:
        return bool(get("/healthz")[0] == 200)
    except OSError:
        return False
