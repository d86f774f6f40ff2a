"""Outbox and relay health as plain numbers, for a ``/metrics`` endpoint or a log line.

``outbox_metrics(engine)`` reads the outbox table only (any process can call it, the relay need not run
here); pass the running ``Relay`` to add its in-process counters, and ``relayed=False`` on the embedded
default, where the outbox is the log itself and has no backlog.  Every value is JSON-serialisable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy import Engine, func, select

from services.eventlog import outbox as ob
from services.eventlog.relay import Relay


def _parse(ts: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def relay_metrics(relay: Relay) -> dict[str, Any]:
    """The relay's own counters since it started (this process only)."""
    m = relay.metrics
    return {
        "holder": relay.holder,
        "published": m.published,
        "errors": m.errors,
        "last_error": m.last_error,
    }


#: what the intake's /metrics says on the embedded default instead of a relay backlog
SQL_LOG_NOTE = (
    "no relay: the outbox is the event log itself and the aggregator reads it in place, so nothing waits to "
    "be published; last_position is the log's end, compare it with the aggregator's /metrics position"
)


def outbox_metrics(
    engine: Engine, relay: Relay | None = None, now: datetime | None = None, *, relayed: bool = True
) -> dict[str, Any]:
    """Backlog of the outbox (rows not yet acknowledged by the broker) and what has left it.

    With a relay to Kafka (``relayed``, the default; ``event_log`` is ``"kafka"``):

    - ``backlog``: unpublished rows;
    - ``oldest_unpublished_age_seconds``: age of the *first* unpublished row in log order (by its event time),
      ``None`` when the backlog is empty; this is what an alert on a stuck relay wants;
    - ``published_total``: rows marked published;
    - ``last_position``: the highest position written (0 for an empty outbox);
    - ``relay``: ``relay_metrics(relay)`` when a relay is given.

    On the embedded default (``relayed=False``, ``event_log`` is ``"sql"``) there is no relay and nothing is
    ever published: the outbox *is* the log the aggregator reads.  Counting its rows as a backlog would show
    an ever-growing queue and age that look like a stuck relay, so ``backlog``,
    ``oldest_unpublished_age_seconds`` and ``published_total`` are ``None`` (not applicable) and ``note``
    says why; ``last_position`` (the log's end) is what the aggregator's position is compared with.
    """
    t = ob.outbox
    if not relayed:
        with engine.connect() as conn:
            last = conn.execute(select(func.max(t.c.position))).scalar()
        return {
            "event_log": "sql",
            "backlog": None,
            "oldest_unpublished_age_seconds": None,
            "published_total": None,
            "last_position": int(last) if last is not None else 0,
            "note": SQL_LOG_NOTE,
        }
    unpublished = t.c.published_at.is_(None)
    with engine.connect() as conn:
        backlog = int(conn.execute(select(func.count()).where(unpublished)).scalar_one())
        published = int(conn.execute(select(func.count()).where(t.c.published_at.is_not(None))).scalar_one())
        last = conn.execute(select(func.max(t.c.position))).scalar()
        oldest_time: str | None = None
        if backlog:
            first = select(func.min(t.c.position)).where(unpublished).scalar_subquery()
            oldest_time = conn.execute(select(t.c.time).where(t.c.position == first)).scalar()
    age: float | None = None
    if oldest_time:
        when = _parse(oldest_time)
        if when is not None:
            age = max(0.0, ((now or datetime.now(UTC)) - when).total_seconds())
    out: dict[str, Any] = {
        "event_log": "kafka",
        "backlog": backlog,
        "oldest_unpublished_age_seconds": age,
        "published_total": published,
        "last_position": int(last) if last is not None else 0,
    }
    if relay is not None:
        out["relay"] = relay_metrics(relay)
    return out


def outbox_families(figures: dict[str, Any]) -> list[Metric]:
    """``outbox_metrics``' figures as Prometheus metric families (the intake's ``GET /metrics``).

    On the embedded log the backlog, age and published count do not apply and are left out (absent, not 0,
    so an alert on them neither fires nor pretends to watch); with Kafka an empty backlog has age 0.
    """
    out: list[Metric] = []
    info = GaugeMetricFamily(
        "score_event_log_info", "Which event log this intake writes to", labels=["event_log"]
    )
    info.add_metric([figures["event_log"]], 1)
    out.append(info)
    out.append(
        GaugeMetricFamily(
            "score_outbox_last_position",
            "Highest outbox position written (the log's end on the embedded log)",
            value=figures["last_position"],
        )
    )
    if figures["backlog"] is not None:
        out.append(
            GaugeMetricFamily(
                "score_outbox_backlog", "Outbox rows not yet acknowledged by Kafka", value=figures["backlog"]
            )
        )
        age = figures["oldest_unpublished_age_seconds"]
        out.append(
            GaugeMetricFamily(
                "score_outbox_oldest_unpublished_age_seconds",
                "Age of the first unpublished outbox row (0 when none waits): a stuck relay makes it grow",
                value=0.0 if age is None else age,
            )
        )
        out.append(
            CounterMetricFamily(
                "score_outbox_published", "Outbox rows marked published", value=figures["published_total"]
            )
        )
    relay = figures.get("relay")
    if relay is not None:  # the relay runs in this process (`score run`)
        out += relay_counter_families(relay["published"], relay["errors"])
    return out


def relay_counter_families(published: int, errors: int) -> list[Metric]:
    """A relay's own counters since it started (``score relay`` serves them on ``SCORE_METRICS_PORT``)."""
    return [
        CounterMetricFamily(
            "score_relay_published", "Events this relay published since it started", value=published
        ),
        CounterMetricFamily(
            "score_relay_errors", "Failed publish attempts of this relay since it started", value=errors
        ),
    ]


def relay_families(relay: Relay) -> list[Metric]:
    return relay_counter_families(relay.metrics.published, relay.metrics.errors)


__all__ = ["outbox_families", "outbox_metrics", "relay_families", "relay_metrics"]
