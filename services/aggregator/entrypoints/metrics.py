"""The aggregator's figures for operators: ``GET /metrics`` (Prometheus text) and ``GET /metrics.json``.

What the consumer has applied (facts, dead letters, rollups awaiting publication), its position per
partition, and per partition whether what it handled up to there adds up to what the log holds up to there
(``consistent``: the cheap, continuous form of ``score aggregator verify``) and the lag.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Flask
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy import func, select

from services.aggregator.adapters.tables import dead_letters, facts, positions, rollup_changes
from services.aggregator.bootstrap import Aggregator
from services.aggregator.service_layer.runner import ConsumerStats
from services.aggregator.views import position_accounts

# one log reader per app, used by one request at a time (a Kafka client is not thread-safe)
_log_reader_lock = threading.Lock()

log = logging.getLogger(__name__)


def figures(app: Flask) -> dict[str, Any]:
    """The figures as JSON (``/metrics.json``); ``log.error`` when the log cannot be read."""
    agg: Aggregator = app.extensions["score.aggregator"]
    with agg.engine.connect() as conn:

        def count(table: Any) -> int:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

        body: dict[str, Any] = {
            "facts": count(facts),
            "dead_letters": count(dead_letters),
            "rollups_awaiting_publication": count(rollup_changes),
            "positions": [
                {"source": r.source, "partition": r.partition, "offset": r.offset}
                for r in conn.execute(select(positions).order_by(positions.c.source, positions.c.partition))
            ],
        }
    try:
        with _log_reader_lock:
            if "score.log_reader" not in app.extensions:
                app.extensions["score.log_reader"] = agg.log_reader()
            accounts = position_accounts(agg.engine, agg.source_name, app.extensions["score.log_reader"])
        body["log"] = {"partitions": accounts, "consistent": all(a["consistent"] for a in accounts)}
    except Exception as exc:  # noqa: BLE001 - the log being unreachable is itself worth reporting
        # a fresh reader at the next scrape; this one closed, else each scrape during a broker outage left
        # one more Kafka client (and its network thread) behind
        failed = app.extensions.pop("score.log_reader", None)
        if failed is not None:
            try:
                failed.close()
            except Exception:  # noqa: BLE001 - already reporting why the log is unreachable
                log.debug("closing the failed log reader failed", exc_info=True)
        body["log"] = {"error": f"{type(exc).__name__}: {exc}"}
    return body


def families(body: dict[str, Any]) -> list[Metric]:
    """``figures`` as Prometheus metric families."""

    def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, doc, value=value)

    out: list[Metric] = [
        gauge("score_aggregator_facts", "Submission versions stored as facts", body["facts"]),
        gauge("score_aggregator_dead_letters", "Events the aggregator could not apply", body["dead_letters"]),
        gauge(
            "score_aggregator_rollups_awaiting_publication",
            "Changed district reports not yet on the rollup topic",
            body["rollups_awaiting_publication"],
        ),
    ]
    position = GaugeMetricFamily(
        "score_aggregator_position",
        "Last log position applied, per source and partition",
        labels=["source", "partition"],
    )
    for p in body["positions"]:
        position.add_metric([p["source"], str(p["partition"])], p["offset"])
    out.append(position)
    log = body["log"]
    out.append(
        gauge(
            "score_aggregator_log_up",
            "1 when the event log could be read for this scrape",
            0 if "error" in log else 1,
        )
    )
    if "error" in log:
        return out
    per_partition = {
        "lag": ("score_aggregator_log_lag", "Records in the log after the stored position"),
        "log_end": ("score_aggregator_log_end", "Position of the last record in the log"),
        "handled": (
            "score_aggregator_log_handled",
            "Records handled up to the position (applied + duplicates + dead letters)",
        ),
        "log_records_through_position": (
            "score_aggregator_log_records_through_position",
            "Records the log holds up to the stored position",
        ),
        "consistent": (
            "score_aggregator_log_consistent",
            "1 when handled equals the records the log holds up to the position; 0 is a gap (run verify)",
        ),
    }
    for key, (name, doc) in per_partition.items():
        family = GaugeMetricFamily(name, doc, labels=["partition"])
        for a in log["partitions"]:
            family.add_metric([str(a["partition"])], float(a[key]))
        out.append(family)
    return out


def consumer_families(stats: ConsumerStats) -> list[Metric]:
    """One consumer's counters since it started (``score aggregator consume`` serves them on
    ``SCORE_METRICS_PORT``)."""
    counters = {
        "applied": "Events applied",
        "duplicates": "Events dropped as already applied (same event id)",
        "dead_letters": "Events that could not be applied (dead letters)",
        "redelivered": "Records read again after a failed batch and dropped (at or before the position)",
        "errors": "Batches that failed (database or log errors; retried with backoff)",
        "gaps_refused": "Batches refused because they did not follow the stored position (each an ERROR)",
    }
    return [
        CounterMetricFamily(
            f"score_consumer_{name}", f"{doc}, by this consumer since it started", value=getattr(stats, name)
        )
        for name, doc in counters.items()
    ]
