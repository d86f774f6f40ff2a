"""Prune ``processed_events``: drop the claims no re-sent event can need any more, and keep verify exact.

A claim (an applied event's id) does two jobs.  It recognises the same event when it comes again at another
place in the log: the relay re-sends what it could not mark published (a crash between the broker's
acknowledgement and the mark, minutes to days), and a restored intake database re-sends everything published
after its backup.  A record read again at the same place (a rewind, a rebalance) needs no claim: the stored
position drops it.  And verify holds every record of the log against the claims.

So a claim can go once no re-send of its event can come: once it is older than the oldest intake backup that
may still be restored (and the longest relay outage).  The operator names that age (``--older-than``); a claim's
age is the database's clock when it was made (``claimed_at``), never earlier than its event was published.
An event re-sent after its claim was pruned would be applied again, so the age must be chosen from the backup
policy, not from the disk (``deploy/README.md``).

Per partition, the claims made before the cut-off form a prefix of the partition (claims are made in log
order); the prune deletes that prefix up to a watermark (``positions.pruned_through``) and adds the number it
deleted to ``positions.pruned_claims``, in the same transaction.  Verify then counts the records that have no
claim left: ``pruned_claims`` of them were applied where they stand, the rest were duplicates of pruned claims
(a re-send may stand above the watermark), so applied + duplicates + dead letters still equals the position's
own counters exactly, and a gap shows as those counters disagreeing (``verify.reconcile``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, delete, func, select, update

from services.aggregator.adapters.tables import positions, processed_events
from services.eventlog.source import NOTHING

#: offsets per transaction: a prune of a large table never holds a partition's position row for long
CHUNK = 50_000


@dataclass(frozen=True)
class PartitionPrune:
    """What a prune does (or, dry, would do) in one partition."""

    partition: int
    #: the watermark before the prune, and after it: claims of records at or before ``through`` are gone
    before: int
    through: int
    #: claims deleted (or that a run would delete)
    claims: int


def cutoff(older_than: timedelta, now: datetime | None = None) -> datetime:
    """Claims made before this instant (UTC) are old enough to go."""
    return (now or datetime.now(UTC)).astimezone(UTC) - older_than


def plan(conn: Connection, source: str, before: datetime) -> list[PartitionPrune]:
    """Per partition of ``source``: the watermark claims made before ``before`` allow, and how many claims
    at or before it there are.  The watermark stops short of the first claim made later, so a claim that
    came out of log order (it does not, but nothing here relies on it) is never pruned early."""
    old = _by_partition(conn, func.max(processed_events.c.offset), processed_events.c.claimed_at < before)
    young = _by_partition(conn, func.min(processed_events.c.offset), processed_events.c.claimed_at >= before)
    rows = conn.execute(
        select(positions.c.partition, positions.c.offset, positions.c.pruned_through)
        .where(positions.c.source == source)
        .order_by(positions.c.partition)
    )
    out = []
    for r in rows:
        p, position, done = int(r.partition), int(r.offset), int(r.pruned_through)
        through = min(old.get(p, NOTHING), young.get(p, position + 1) - 1, position)
        if through <= done:
            out.append(PartitionPrune(p, done, done, 0))
            continue
        claims = conn.execute(
            select(func.count())
            .select_from(processed_events)
            .where(processed_events.c.partition == p, processed_events.c.offset <= through)
        ).scalar_one()
        out.append(PartitionPrune(p, done, through, int(claims)))
    return out


def prune(engine: Engine, source: str, before: datetime, dry_run: bool = False) -> list[PartitionPrune]:
    """Delete the claims ``plan`` names, a chunk of offsets per transaction, moving each partition's
    watermark and pruned-claims counter with the rows they account for.  Safe beside a running consumer: it
    only ever deletes claims at or before the stored position, which the consumer no longer writes, and
    takes the position row's lock first, as the consumer does."""
    with engine.connect() as conn:
        planned = plan(conn, source, before)
    if dry_run:
        return planned
    for part in planned:
        for low, high in _chunks(part.before, part.through):
            with engine.begin() as conn:
                _lock_position(conn, source, part.partition)
                gone = conn.execute(
                    delete(processed_events).where(
                        processed_events.c.partition == part.partition,
                        processed_events.c.offset > low,
                        processed_events.c.offset <= high,
                    )
                ).rowcount
                conn.execute(
                    update(positions)
                    .where(positions.c.source == source, positions.c.partition == part.partition)
                    .values(pruned_through=high, pruned_claims=positions.c.pruned_claims + gone)
                )
    return planned


def _by_partition(
    conn: Connection, aggregate: ColumnElement[Any], condition: ColumnElement[bool]
) -> dict[int, int]:
    rows = conn.execute(
        select(processed_events.c.partition, aggregate)
        .where(processed_events.c.partition.is_not(None), condition)
        .group_by(processed_events.c.partition)
    )
    return {int(p): int(v) for p, v in rows}


def _chunks(low: int, high: int) -> Iterator[tuple[int, int]]:
    """``(low, high]`` in ranges of at most CHUNK offsets."""
    while low < high:
        yield low, min(low + CHUNK, high)
        low = min(low + CHUNK, high)


def _lock_position(conn: Connection, source: str, partition: int) -> None:
    query = select(positions.c.offset).where(positions.c.source == source, positions.c.partition == partition)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    conn.execute(query)
