"""One database transaction per use case: submissions and their outbox events commit together or not at all."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Connection, Engine

from services.eventlog import outbox
from services.intake.adapters.repository import SubmissionRepository


class UnitOfWork:
    submissions: SubmissionRepository

    def __init__(self, engine: Engine, serialize_outbox: bool = False) -> None:
        self._engine = engine
        self._serialize_outbox = serialize_outbox
        self._conn: Connection | None = None
        self._committed = False

    def __enter__(self) -> UnitOfWork:
        self._conn = self._engine.connect()
        self._conn.begin()
        self.submissions = SubmissionRepository(self._conn)
        self._committed = False
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._conn is not None
        try:
            if not self._committed:
                self._conn.rollback()
        finally:
            self._conn.close()
            self._conn = None

    def commit(self) -> None:
        """Write the events the aggregates raised into the outbox, then commit everything at once."""
        assert self._conn is not None
        events = [e for sub in self.submissions.seen for e in sub.events]
        outbox.append(self._conn, events, serialize=self._serialize_outbox)
        for sub in self.submissions.seen:
            sub.events.clear()
        self._conn.commit()
        self._committed = True
