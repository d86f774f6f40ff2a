"""The outbox table: an event row written in the same transaction as the change it announces.

``position`` is the total order of the log.  On the embedded default the outbox *is* the event log (the
aggregator reads it by position); with Kafka the relay publishes rows in position order and stamps
``published_at`` only after the broker acknowledged them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    Text,
    insert,
    select,
    text,
)

from services.common import columns
from services.common.records import from_row
from services.eventlog.envelope import Event

metadata = MetaData()

# BigInteger on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the auto-incrementing rowid.
_Position = BigInteger().with_variant(Integer(), "sqlite")

outbox = Table(
    "outbox",
    metadata,
    Column("position", _Position, primary_key=True, autoincrement=True),
    columns.event_id(nullable=False, unique=True),
    Column("type", String(120), nullable=False),
    Column("source", String(120), nullable=False),
    Column("subject", String(120), nullable=False),
    Column("key", String(64), nullable=False),
    columns.instant("time", nullable=False),
    Column("data", Text, nullable=False),
    columns.instant("published_at", nullable=True),
    Index(
        "ix_outbox_unpublished",
        "position",
        postgresql_where=text("published_at IS NULL"),
        sqlite_where=text("published_at IS NULL"),
    ),
)

# Single-leader lease for relays: one relay publishes at a time, so rows leave in position order even when
# several relays run for availability.
relay_lease = Table(
    "relay_lease",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("holder", String(80), nullable=False),
    columns.instant("expires_at", nullable=False),
)


#: the columns :func:`event_rows` fills, every one text
EVENT_COLUMNS = ("event_id", "type", "source", "subject", "key", "time", "data")


def event_rows(events: Iterable[Event]) -> list[dict[str, Any]]:
    """The outbox rows (every column but the position and ``published_at``) of ``events``: what
    :func:`append` inserts, and what a writer that puts them into a statement of its own inserts."""
    return [
        {
            "event_id": e.id,
            "type": e.type,
            "source": e.source,
            "subject": e.subject,
            "key": e.key,
            "time": e.time,
            "data": e.data_json,
        }
        for e in events
    ]


def append(conn: Connection, events: Iterable[Event], serialize: bool = False) -> None:
    """Write events into the caller's open transaction.

    ``serialize`` (PostgreSQL, when the outbox itself is read as a log by position): take a transaction-scoped
    advisory lock so positions become visible in commit order; otherwise a reader could pass a position whose
    transaction commits later and skip it for ever.
    """
    rows = event_rows(events)
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(insert(outbox), rows)
        return
    if serialize:
        conn.execute(text("SELECT pg_advisory_xact_lock(7102024)"))
    # One statement for every row, which also wakes a relay waiting on the channel when the transaction
    # commits (NOTIFY is transactional): no extra round trip, and no 0.2 s idle poll between a 201 and
    # the event's way to Kafka.  Rows get their positions in the order given.
    conn.execute(_INSERT_AND_NOTIFY, {"rows": json.dumps(rows, ensure_ascii=False)})


#: The PostgreSQL channel an outbox insert notifies on commit (the relay LISTENs to it).
CHANNEL = "score_outbox"

_COLUMNS = ", ".join(f'"{c}"' for c in ("event_id", "type", "source", "subject", "key", "time", "data"))
_INSERT_AND_NOTIFY = text(
    f"WITH added AS (INSERT INTO outbox ({_COLUMNS}) "
    f"SELECT {_COLUMNS} FROM json_to_recordset(CAST(:rows AS json)) "
    'AS r("event_id" text, "type" text, "source" text, "subject" text, "key" text, "time" text, "data" text) '
    "RETURNING 1) "
    f"SELECT pg_notify('{CHANNEL}', '') FROM (SELECT 1 FROM added LIMIT 1) AS any_added"
)


def row_to_event(row: Row[Any]) -> Event:
    return from_row(Event, row._mapping, id=row.event_id, data_json=row.data)


def read_after(conn: Connection, position: int, limit: int) -> Sequence[tuple[int, Event]]:
    rows = conn.execute(
        select(outbox).where(outbox.c.position > position).order_by(outbox.c.position).limit(limit)
    ).all()
    return [(row.position, row_to_event(row)) for row in rows]


def utcnow() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
