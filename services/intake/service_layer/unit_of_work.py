"""One transaction per use case: submissions and the events they raised commit together or not at all.

:class:`UnitOfWork` is the port (a fake in ``tests/unit/fakes.py``); :class:`SqlUnitOfWork` is one database
transaction whose events go into the outbox table of the same database.  Use it as a context manager: it
rolls back unless :meth:`~UnitOfWork.commit` was called.
"""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Connection, Engine

from services.eventlog import outbox
from services.intake.adapters.events import envelope, outbox_row
from services.intake.adapters.repository import (
    AttachmentRepository,
    RaceLost,
    SqlAttachmentRepository,
    SqlSubmissionRepository,
    SubmissionRepository,
    in_transaction,
    insert_audit_rows,
    race_lost,
    store_new_at_once,
)
from services.intake.domain.events import DomainEvent, SubmissionReceived
from services.intake.domain.model import Submission


class UnitOfWork(abc.ABC):
    submissions: SubmissionRepository
    attachments: AttachmentRepository

    _audit: list[dict[str, Any]] = []

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

    def add_and_commit(self, sub: Submission) -> None:
        """``submissions.add(sub)`` then :meth:`commit`; RaceLost when its id (or another unique key) is
        taken, and then nothing of this transaction is committed."""
        self.submissions.add(sub)
        self.commit()

    def commit_new(self, subs: list[Submission]) -> set[str]:
        """Store first versions whose ids are not stored yet (``add_new_many``) and commit: the ids stored.  A
        stored id (a retry, a racing twin) is left out, not an error; another clash raises RaceLost."""
        stored = self.submissions.add_new_many(subs)
        # the audit entries of the versions stored only: a retry left out is not audited
        self._audit = [row for row in self._audit if row["target"] in stored]
        self.commit()
        return stored

    def audit_with_commit(self, rows: list[dict[str, Any]]) -> None:
        """Audit-log rows (``AccessStore.audit_rows``) to write in the transaction that commits, so that an
        entry stands or falls with the change it records; for the storing of one submission (the use case
        commits only when it stores it) or of first versions (:meth:`commit_new` writes the rows whose
        ``target`` it stored), and only where the audit log shares the intake's database."""
        self._audit = rows

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
            if self._audit:
                insert_audit_rows(self._conn, self._audit)
            self._conn.commit()

    def add_and_commit(self, sub: Submission) -> None:
        if not self._at_once_possible([sub]):
            super().add_and_commit(sub)
        elif sub.id not in self._store_at_once([sub]):
            raise RaceLost(f"submission {sub.id} is stored already")

    def commit_new(self, subs: list[Submission]) -> set[str]:
        """On PostgreSQL, when this transaction has sent nothing yet (the new versions read nothing: first
        versions without photos), everything in ONE statement, atomic on its own and sent in autocommit: the
        rows, their outbox rows and the audit entries of those stored.  Otherwise as the port says (BEGIN,
        the inserts, the outbox, COMMIT: four round trips and the audit entry's fifth, where this is one)."""
        if not self._at_once_possible(subs):
            return super().commit_new(subs)
        return self._store_at_once(subs)

    def _store_at_once(self, subs: list[Submission]) -> set[str]:
        assert self._conn is not None
        events = [outbox_row(e) for s in subs for e in s.events]
        stored = store_new_at_once(self._conn, subs, events, self._audit)
        self.submissions.adopt([s for s in subs if s.id in stored])
        for sub in subs:
            sub.events.clear()
        self._committed = True
        return stored

    def _at_once_possible(self, subs: list[Submission]) -> bool:
        assert self._conn is not None
        if self._conn.dialect.name != "postgresql" or self._serialize_outbox or not subs:
            return False  # SQLite; or the outbox read as a log, whose advisory lock must come first
        if any(s.photos or s.replaces or s.superseded_by for s in subs):
            return False  # photo links and supersessions are written by the careful path
        # every event announces its own version's arrival (the filter on stored ids relies on it)
        if any(
            not isinstance(e, SubmissionReceived) or e.version.submission_id != s.id
            for s in subs
            for e in s.events
        ):
            return False
        return not in_transaction(self._conn)

    def _rollback(self) -> None:
        assert self._conn is not None
        self._conn.rollback()

    def _end(self) -> None:
        assert self._conn is not None
        self._conn.close()
        self._conn = None
