"""Deliver each district's report package for a period to a destination, once per content, and record it.

The record (``report_deliveries``, one row per district x period x destination x version) makes a scheduled
run safe to repeat, as a timer repeats it:

- figures unchanged since the version last delivered there: nothing is sent (``unchanged``);
- the newest version is pending or failed (the receiver was down, the process was stopped): its stored
  payload is sent again, byte for byte, under the same ``Idempotency-Key``; never figures re-read later;
- figures changed (late events: a rectification after the period closed, a correction, a rejection): a new
  version, ``v<n+1>``, with ``supersedes_version`` in its manifest; a pending or failed older version that
  never arrived is marked ``superseded`` instead of being sent after its successor.

Each attempt is counted in the row before it is made, so an attempt cut off by a crash is still counted.  Two
runs at once cannot both create a version (a unique key); they may both retry one pending version, which the
idempotency key (HTTP) or the same directory name (folder) makes harmless.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from services.aggregator.adapters.destinations import DeliveryError, Destination
from services.aggregator.adapters.tables import report_deliveries as deliveries
from services.aggregator.domain.periods import Period, period_of
from services.aggregator.service_layer import packages
from services.common import clock
from services.common.backoff import Backoff
from services.common.codes import districts

#: the longest a receiver's Retry-After may make one wait (a scheduled run must end)
MOST_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class Outcome:
    district: str
    period: Period
    version: int
    #: delivered | unchanged | failed | busy (another run is creating this version)
    status: str
    attempts: int
    note: str
    content_sha256: str


@dataclass(frozen=True)
class _Tries:
    """How one package is tried within a run: at most ``attempts`` sends, ``backoff`` between them (or the
    receiver's Retry-After, capped), ``now`` for the stamps and ``wait`` for the pauses (tests pass fakes)."""

    attempts: int
    backoff: Backoff
    now: Callable[[], datetime]
    wait: Callable[[float], None]


def last_complete(kind: str, today: date) -> Period:
    """The last period of ``kind`` that ended before ``today``: last month, last quarter, last year."""
    return period_of(kind, today).previous()


def pilot_districts() -> list[str]:
    """Every active division of the code table: the province, the prefectures and their counties."""
    return sorted(code for code, d in districts().items() if d.active)


def deliver(
    engine: Engine,
    source: str,
    destination: Destination,
    codes: Iterable[str],
    periods: Iterable[Period],
    *,
    attempts: int = 5,
    backoff: Backoff | None = None,
    now: Callable[[], datetime] = clock.utcnow,
    wait: Callable[[float], None] = time.sleep,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Deliver the package of every district in ``codes`` for every period in ``periods`` (see module).

    Once a package has used up its attempts (the destination is down), the rest of the run gives each
    package one attempt: a daily run against a receiver that is away must end in minutes, not wait out every
    package's backoff; the next run retries them all.
    """
    out = []
    down = False
    for period in periods:
        for code in codes:
            fig = packages.figures(engine, source, code, period)
            # without a backoff given, each package starts its own
            tries = _Tries(1 if down else attempts, backoff or Backoff(1.0, 30.0), now, wait)
            outcome = _deliver_one(engine, destination, fig, period, tries)
            down = down or (outcome.status == "failed" and outcome.attempts >= attempts > 1)
            out.append(outcome)
            if on_outcome:
                on_outcome(outcome)
    return out


def _key(code: str, period: Period, destination: Destination) -> Any:
    c = deliveries.c
    return and_(
        c.district == code,
        c.period_kind == period.kind,
        c.period_key == period.key,
        c.destination == destination.name,
    )


def _deliver_one(
    engine: Engine,
    destination: Destination,
    fig: packages.Figures,
    period: Period,
    tries: _Tries,
) -> Outcome:
    code, checksum = fig.district, fig.content_sha256
    key = _key(code, period, destination)
    with engine.connect() as conn:
        latest = conn.execute(
            select(deliveries).where(key).order_by(deliveries.c.version.desc()).limit(1)
        ).first()
    if latest is not None and latest.content_sha256 == checksum:
        if latest.status == "delivered":
            note = f"unchanged since v{latest.version} ({latest.delivered_at})"
            return Outcome(code, period, latest.version, "unchanged", 0, note, checksum)
        row_id, version, payload = latest.id, latest.version, latest.payload
    else:
        version = latest.version + 1 if latest is not None else 1
        payload = packages.build(fig, version, tries.now(), latest.version if latest is not None else None)
        try:
            with engine.begin() as conn:
                conn.execute(
                    update(deliveries)
                    .where(key, deliveries.c.status.in_(("pending", "failed")))
                    .values(status="superseded")
                )
                row_id = conn.execute(
                    insert(deliveries)
                    .returning(deliveries.c.id)
                    .values(
                        district=code,
                        period_kind=period.kind,
                        period_key=period.key,
                        destination=destination.name,
                        version=version,
                        content_sha256=checksum,
                        idempotency_key=packages.idempotency_key(code, period, version, checksum),
                        log_position=json.dumps(fig.position, sort_keys=True),
                        status="pending",
                        attempts=0,
                        payload=payload,
                        created_at=tries.now().isoformat(),
                    )
                ).scalar_one()
        except IntegrityError:
            return Outcome(code, period, version, "busy", 0, "another run is creating this version", checksum)
    return _attempt(engine, destination, row_id, payload, code, period, version, tries)


def _attempt(
    engine: Engine,
    destination: Destination,
    row_id: int,
    payload: bytes,
    code: str,
    period: Period,
    version: int,
    tries: _Tries,
) -> Outcome:
    manifest, files = packages.unpack(payload)
    row = deliveries.c.id == row_id
    made = 0
    while True:
        made += 1
        with engine.begin() as conn:
            conn.execute(update(deliveries).where(row).values(attempts=deliveries.c.attempts + 1))
        try:
            note = destination.send(payload, manifest, files, manifest["idempotency_key"])
        except DeliveryError as exc:
            with engine.begin() as conn:
                conn.execute(update(deliveries).where(row).values(last_error=str(exc)[:2000]))
            if not exc.retryable or made >= tries.attempts:
                with engine.begin() as conn:
                    conn.execute(update(deliveries).where(row).values(status="failed"))
                return Outcome(code, period, version, "failed", made, str(exc), manifest["content_sha256"])
            tries.wait(max(tries.backoff.failed(), min(exc.retry_after or 0.0, MOST_RETRY_AFTER)))
            continue
        with engine.begin() as conn:
            conn.execute(
                update(deliveries).where(row).values(status="delivered", delivered_at=tries.now().isoformat())
            )
        return Outcome(code, period, version, "delivered", made, note, manifest["content_sha256"])


def history(engine: Engine, district: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The delivery records, newest first (without their payloads)."""
    c = deliveries.c
    stmt = select(*(col for col in deliveries.c if col.name != "payload")).order_by(c.id.desc()).limit(limit)
    if district:
        stmt = stmt.where(c.district == district)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]
