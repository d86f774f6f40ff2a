"""One transaction per use case: submissions and the events they raised commit together or not at all.

:class:`UnitOfWork` is the port (a fake in ``tests/unit/fakes.py``); :class:`SqlUnitOfWork` is one database
transaction whose events go into the outbox table of the same database.  Use it as a context manager: it
rolls back unless :meth:`~UnitOfWork.commit` was called.
"""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine

from services.eventlog import outbox
from services.intake.adapters.events import envelope
from services.intake.adapters.repository import (
    AttachmentRepository,
    SqlAttachmentRepository,
    SqlSubmissionRepository,
    SubmissionRepository,
    race_lost,
)
from services.intake.domain.events import DomainEvent


class UnitOfWork(abc.ABC):
    submissions: SubmissionRepository
    attachments: AttachmentRepository

    def __enter__(self) -> Self:
        self._committed = False
        self._begin()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if not self._committed:
                self._rollback()
        finally:
            self._end()

    def commit(self) -> None:
        """Hand the events the submissions raised to storage with the changes, then commit everything at once.

        Raises :class:`~services.intake.adapters.repository.RaceLost` when a unique key was taken meanwhile.
        """
        seen = self.submissions.seen
        self._commit([e for sub in seen for e in sub.events])
        for sub in seen:
            sub.events.clear()
        self._committed = True

    @abc.abstractmethod
    def _begin(self) -> None:
        """Start a transaction and a repository (with an empty identity map) inside it."""

    @abc.abstractmethod
    def _commit(self, events: list[DomainEvent]) -> None: ...

    @abc.abstractmethod
    def _rollback(self) -> None: ...

    @abc.abstractmethod
    def _end(self) -> None:
        """Release what the transaction held (after commit or rollback)."""


class SqlUnitOfWork(UnitOfWork):
    def __init__(self, engine: Engine, serialize_outbox: bool = False) -> None:
        self._engine = engine
        self._serialize_outbox = serialize_outbox
        self._conn: Connection | None = None

    def _begin(self) -> None:
        self._conn = self._engine.connect()
        self._conn.begin()
        self.submissions = SqlSubmissionRepository(self._conn)
        self.attachments = SqlAttachmentRepository(self._conn)

    def _commit(self, events: list[DomainEvent]) -> None:
        assert self._conn is not None
        with race_lost():
            outbox.append(self._conn, [envelope(e) for e in events], serialize=self._serialize_outbox)
            self._conn.commit()

    def _rollback(self) -> None:
        assert self._conn is not None
        self._conn.rollback()

    def _end(self) -> None:
        assert self._conn is not None
        self._conn.close()
        self._conn = None
