"""Prometheus metrics of both HTTP apps, in the text format Prometheus scrapes (``GET /metrics``).

Two kinds of figure:

- **Per process, counted as requests are answered**: ``score_http_requests_total`` and the latency histogram
  ``score_http_request_duration_seconds``, by service, endpoint (the route's rule, not the raw path, so a
  scan of random URLs cannot create unbounded series), method and status. Under gunicorn each worker is a
  process; ``prometheus-client``'s multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, which
  ``services/common/gunicorn_conf.py`` prepares for its workers) writes them to shared files and a scrape,
  whichever worker answers it, adds them up.
- **The state of the system, read at scrape time** from the databases and the log (outbox backlog and age,
  positions, lag, the log reconciliation, dead letters, ...): the same in every worker, so each scrape
  computes them once (``families``), and they are never stored per process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

#: the HTTP metrics of this process; in multiprocess mode they are written to PROMETHEUS_MULTIPROC_DIR
HTTP_REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "score_http_requests",
    "HTTP requests answered, by service, endpoint (route rule), method and status",
    ["service", "endpoint", "method", "status"],
    registry=HTTP_REGISTRY,
)
LATENCY = Histogram(
    "score_http_request_duration_seconds",
    "Time from the request's arrival in the app to its response, by service, endpoint, method and status",
    ["service", "endpoint", "method", "status"],
    # a submission is ~5-50 ms; an XLSX report or a batch of 100 up to ~1 s; beyond 2.5 s is an incident
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=HTTP_REGISTRY,
)
#: the text format every Prometheus server parses (2.x included); our metric names need nothing newer
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: the endpoint label of a request that matched no route (404s of any path share it)
UNMATCHED = "<unmatched>"


def init_app(app: Flask, service: str) -> None:
    """Count and time every response of ``app`` under ``service``."""

    @app.before_request
    def _prom_start() -> None:
        g.prom_started = time.perf_counter()

    @app.after_request
    def _prom_observe(response: Response) -> Response:
        started = getattr(g, "prom_started", None)
        rule = request.url_rule.rule if request.url_rule is not None else UNMATCHED
        labels = (service, rule, request.method, str(response.status_code))
        REQUESTS.labels(*labels).inc()
        if started is not None:
            LATENCY.labels(*labels).observe(time.perf_counter() - started)
        return response


class _Families(Collector):
    def __init__(self, make: Callable[[], Iterable[Metric]]) -> None:
        self._make = make

    def collect(self) -> Iterable[Metric]:
        return self._make()


def exposition(multiprocess_dir: str, families: Callable[[], Iterable[Metric]]) -> bytes:
    """The text format of this process's (or, with ``multiprocess_dir``, every worker's) HTTP metrics and
    of ``families``, the state figures computed now."""
    if multiprocess_dir:
        from prometheus_client import multiprocess

        http = CollectorRegistry()
        multiprocess.MultiProcessCollector(http, path=multiprocess_dir)
    else:
        http = HTTP_REGISTRY
    state = CollectorRegistry(auto_describe=False)
    state.register(_Families(families))
    return generate_latest(http) + generate_latest(state)


def response(multiprocess_dir: str, families: Callable[[], Iterable[Metric]]) -> Response:
    """``GET /metrics``: the exposition with Prometheus's content type."""
    return Response(exposition(multiprocess_dir, families), mimetype=None, content_type=CONTENT_TYPE)


def serve(port: int, families: Callable[[], Iterable[Metric]]) -> None:
    """Serve ``families`` (computed at each scrape) on ``port`` from a background thread: for the processes
    without an HTTP app, ``score relay`` and ``score aggregator consume``."""
    from prometheus_client import start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    start_http_server(port, registry=registry)


__all__ = ["exposition", "init_app", "response", "serve"]
