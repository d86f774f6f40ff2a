"""What a consumer reads, whatever carries the log.

A consumer keeps its own positions (partition -> last offset applied) in its own database, in the same
transaction as its effects.  Every delivery names the position that must already be stored for it to be the
next one (``after``), so the consumer's transaction can refuse a batch that does not follow what it stored:
a gap is detected where it would be written, not trusted away.  The source only has to be told where to read
next (``rewind``); it never needs the consumer's database to do so, which matters when that database is the
thing that just failed.  Kafka consumer-group commits are only a courtesy for lag monitoring.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine, func, select

from services.common.frozen import quick_init
from services.eventlog import outbox
from services.eventlog.envelope import Event, MalformedEvent

PositionOf = Callable[[int], int | None]

#: the position stored for a partition nothing has been applied from ("before the first record")
NOTHING = -1


@quick_init
@dataclass(frozen=True)
class Delivery:
    partition: int
    offset: int
    event: Event | None  # None when the record broke the envelope contract
    error: str | None = None
    raw_key: bytes | None = None
    raw_value: bytes | None = None
    #: the position that precedes this record in its partition (Kafka: offset - 1; the SQL log: the previous
    #: row's position, whose numbers may skip).  None: the source cannot tell (then ``offset - 1`` is assumed).
    after: int | None = None
    #: the event's payload, parsed, when the source had to parse it anyway; None: parse ``event.data_json``
    data: Any = None
    #: False when the source checked the envelope but left the payload's JSON unchecked (Kafka: the apply step
    #: parses each payload once, and a payload that is not JSON is then dead-lettered as a broken envelope)
    json_checked: bool = True

    @property
    def previous(self) -> int:
        return self.offset - 1 if self.after is None else self.after


@dataclass(frozen=True)
class LogRecord:
    """One record of the log as verify sees it: where it is and which event it carries (None: malformed)."""

    partition: int
    offset: int
    event_id: str | None


class EventSource(Protocol):
    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Delivery]: ...

    def rewind(self, after: dict[int, int]) -> None:
        """Read each named partition again from the record that follows position ``after[p]``."""
        ...

    def committed(self, positions: dict[int, int]) -> None: ...

    def end_positions(self) -> dict[int, int]:
        """The last offset of every partition now (-1 for an empty one): 'caught up' means reaching these."""
        ...

    def close(self) -> None: ...


class SqlEventSource:
    """The embedded log: the outbox table read in position order, as one partition (0)."""

    def __init__(self, engine: Engine, position_of: PositionOf) -> None:
        self._engine = engine
        stored = position_of(0)
        self._after = NOTHING if stored is None else stored

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Delivery]:
        with self._engine.connect() as conn:
            rows = outbox.read_after(conn, self._after, max_records)
        if not rows:
            time.sleep(min(timeout, 0.2))
            return []
        out: list[Delivery] = []
        previous = self._after
        for pos, event in rows:
            out.append(Delivery(partition=0, offset=pos, event=event, after=previous))
            previous = pos
        self._after = previous
        return out

    def rewind(self, after: dict[int, int]) -> None:
        if 0 in after:
            self._after = after[0]

    def committed(self, positions: dict[int, int]) -> None:
        return None

    def end_positions(self) -> dict[int, int]:
        return sql_end_positions(self._engine)

    def close(self) -> None:
        return None


def sql_end_positions(engine: Engine) -> dict[int, int]:
    with engine.connect() as conn:
        last = conn.execute(select(func.max(outbox.outbox.c.position))).scalar()
    return {0: int(last) if last is not None else NOTHING}


class LogReader(Protocol):
    """The log read outside any consumer: for verify's reconciliation and the /metrics check."""

    def scan(self) -> Iterator[LogRecord]:
        """Every record now in the log, partition by partition, in order."""
        ...

    def records_through(self, positions: dict[int, int]) -> dict[int, int]:
        """How many records of each partition lie at or before the given position."""
        ...

    def end_positions(self) -> dict[int, int]:
        """The last offset of every partition now (NOTHING for an empty one)."""
        ...

    def close(self) -> None: ...


class SqlLogReader:
    def __init__(self, engine: Engine, chunk: int = 5000) -> None:
        self._engine = engine
        self._chunk = chunk

    def scan(self) -> Iterator[LogRecord]:
        t = outbox.outbox
        after = NOTHING
        while True:
            with self._engine.connect() as conn:
                rows = conn.execute(
                    select(t.c.position, t.c.event_id)
                    .where(t.c.position > after)
                    .order_by(t.c.position)
                    .limit(self._chunk)
                ).all()
            if not rows:
                return
            for r in rows:
                yield LogRecord(0, int(r.position), r.event_id)
            after = int(rows[-1].position)

    def records_through(self, positions: dict[int, int]) -> dict[int, int]:
        # the SQL log's positions may skip numbers (a rolled-back insert still used one), so count rows
        if 0 not in positions:
            return {}
        t = outbox.outbox
        with self._engine.connect() as conn:
            n = conn.execute(
                select(func.count()).select_from(t).where(t.c.position <= positions[0])
            ).scalar_one()
        return {0: int(n)}

    def end_positions(self) -> dict[int, int]:
        return sql_end_positions(self._engine)

    def close(self) -> None:
        return None


__all__ = [
    "NOTHING",
    "Delivery",
    "EventSource",
    "LogRecord",
    "MalformedEvent",
    "PositionOf",
    "SqlEventSource",
    "LogReader",
    "SqlLogReader",
    "sql_end_positions",
]
