"""What a consumer reads, whatever carries the log.

A consumer keeps its own positions (partition -> last offset applied) in its own database, in the same
transaction as its effects, and hands the source a ``position_of`` callback.  The source starts after those
positions and ``rewind()`` goes back to them after a failed transaction.  Kafka consumer-group commits are
only a courtesy for lag monitoring; the consumer's database is the truth.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine, func, select

from services.eventlog import outbox
from services.eventlog.envelope import Event, MalformedEvent

PositionOf = Callable[[int], int | None]


@dataclass(frozen=True)
class Delivery:
    partition: int
    offset: int
    event: Event | None  # None when the record broke the envelope contract
    error: str | None = None
    raw_key: bytes | None = None
    raw_value: bytes | None = None


class EventSource(Protocol):
    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Delivery]: ...

    def rewind(self) -> None: ...

    def committed(self, positions: dict[int, int]) -> None: ...

    def end_positions(self) -> dict[int, int]:
        """The last offset of every partition now (-1 for an empty one): 'caught up' means reaching these."""
        ...

    def close(self) -> None: ...


class SqlEventSource:
    """The embedded log: the outbox table read in position order, as one partition (0)."""

    def __init__(self, engine: Engine, position_of: PositionOf) -> None:
        self._engine = engine
        self._position_of = position_of
        self._after = position_of(0) or 0

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Delivery]:
        with self._engine.connect() as conn:
            rows = outbox.read_after(conn, self._after, max_records)
        if rows:
            self._after = rows[-1][0]
        else:
            time.sleep(min(timeout, 0.2))
        return [Delivery(partition=0, offset=pos, event=event) for pos, event in rows]

    def rewind(self) -> None:
        self._after = self._position_of(0) or 0

    def committed(self, positions: dict[int, int]) -> None:
        return None

    def end_positions(self) -> dict[int, int]:
        with self._engine.connect() as conn:
            last = conn.execute(select(func.max(outbox.outbox.c.position))).scalar()
        return {0: int(last) if last is not None else -1}

    def close(self) -> None:
        return None


__all__ = ["Delivery", "EventSource", "MalformedEvent", "PositionOf", "SqlEventSource"]
