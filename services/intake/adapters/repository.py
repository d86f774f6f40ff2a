"""Submissions in and out of storage; the domain never sees a row.

:class:`SubmissionRepository` is the port the use cases talk to (``tests/unit/fakes.py`` holds a fake of it);
:class:`SqlSubmissionRepository` keeps submissions in the ``submissions`` and ``reviews`` tables.

The repository is also the transaction's identity map: a submission asked for twice in one transaction is the
same object, so a change made through one reference cannot be overwritten by a stale copy (a lost update).
"""

from __future__ import annotations

import abc
import json
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import orjson
from psycopg import pq
from psycopg.adapt import Dumper
from sqlalchemy import Connection, Integer, and_, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import TextClause

from services.access.store import AUDIT_COLUMNS
from services.access.tables import audit_log
from services.common.canonical import canonical_json
from services.common.db import execute_on_driver
from services.common.records import from_row, to_row
from services.eventlog import outbox
from services.intake.adapters.tables import attachments, reviews, submission_attachments, submissions
from services.intake.domain.attachments import Attachment
from services.intake.domain.model import INSPECTION, ReviewEntry, StoredReview, Submission


class RaceLost(Exception):
    """A write lost a race: another transaction stored the same key first (a submission id, a replaced
    version, a review id or a review's number).  The transaction is lost; the caller answers from the
    winner's state in a new one."""


class SubmissionRepository(abc.ABC):
    """Submissions and their reviews, within one transaction of a unit of work."""

    def __init__(self) -> None:
        self._identity: dict[str, Submission] = {}
        self._locked: set[str] = set()

    @property
    def seen(self) -> list[Submission]:
        """Every submission this transaction loaded or added (their events are collected at commit)."""
        return list(self._identity.values())

    def get(self, submission_id: str, for_update: bool = False) -> Submission | None:
        """The submission, or None.  ``for_update``: lock it until the transaction ends, so that rules judged
        on it are judged one transaction after the other."""
        sub = self._identity.get(submission_id)
        if sub is None:
            sub = self._load(submission_id, for_update)
            if sub is None:
                return None
            self._identity[submission_id] = sub
        elif for_update and submission_id not in self._locked:
            self._lock(submission_id)
        if for_update:
            self._locked.add(submission_id)
        return sub

    def add(self, sub: Submission) -> None:
        self._insert(sub)
        self._identity[sub.id] = sub

    def add_new_many(self, subs: list[Submission]) -> set[str]:
        """Store first versions whose ids are not stored yet; returns the ids stored (the others, retries,
        are left out and raise nothing).  The ids of ``subs`` are distinct."""
        stored: set[str] = set()
        for sub in subs:
            if self.get(sub.id) is None:
                self.add(sub)
                stored.add(sub.id)
        return stored

    def adopt(self, subs: list[Submission]) -> None:
        """Versions stored by the unit of work itself (``commit_new``), as if :meth:`add` had stored them."""
        for sub in subs:
            self._identity[sub.id] = sub

    def history(self, submission_id: str) -> list[Submission]:
        """Every version in the lineage of ``submission_id``, oldest first (empty when it is unknown)."""
        first = self.get(submission_id)
        if first is None:
            return []
        # walk back to the root, then forward to the newest
        root = first
        while root.replaces:
            prev = self.get(root.replaces)
            if prev is None:
                break
            root = prev
        chain = [root]
        while (newer := chain[-1].superseded_by) is not None:
            nxt = self.get(newer)
            if nxt is None:
                break
            chain.append(nxt)
        return chain

    @abc.abstractmethod
    def save(self, sub: Submission) -> None:
        """Write back a changed submission (superseded, reviewed)."""

    def current_rectification(self, hazard_ref: str) -> str | None:
        """The id of the rectification that counts now for a hazard (``<inspection root>:<item code>``)."""
        found = self.counting_rectifications([hazard_ref]).get(hazard_ref)
        return found.id if found is not None else None

    @abc.abstractmethod
    def counting_rectifications(self, hazard_refs: list[str]) -> dict[str, Submission]:
        """The rectification that counts now (:attr:`Submission.counts`) for each of these hazards that has
        one, by hazard ref."""

    @abc.abstractmethod
    def counting_inspections(self, districts: list[str]) -> list[Submission]:
        """The factory inspections filed under these districts that count (:attr:`Submission.counts`): the
        newest version of each lineage, not rejected."""

    @abc.abstractmethod
    def next_review_seq(self, submission_id: str) -> int:
        """The number the next review of this submission gets (unique with the submission: a race loses)."""

    @abc.abstractmethod
    def record_review(
        self, sub: Submission, seq: int, review_id: str | None, request_hash: str | None
    ) -> None:
        """Record the review ``sub`` was just given, under its number and the client's ``review_id``."""

    @abc.abstractmethod
    def review_by_id(self, review_id: str) -> StoredReview | None:
        """The review recorded under a client's idempotency key, if any."""

    @abc.abstractmethod
    def reviews_of(self, submission_id: str) -> list[ReviewEntry]:
        """A submission's reviews, oldest first."""

    @abc.abstractmethod
    def _load(self, submission_id: str, for_update: bool) -> Submission | None: ...

    @abc.abstractmethod
    def _lock(self, submission_id: str) -> None: ...

    @abc.abstractmethod
    def _insert(self, sub: Submission) -> None: ...


#: the submissions table's columns that hold JSON text
_JSON_COLUMNS = ("collector", "data", "computed")


def _as_is(value: Any) -> Any:
    return value


def _to_row(s: Submission, encode: Callable[[Any], Any] = canonical_json) -> dict[str, Any]:
    """The row of ``s``; its JSON columns ``encode``d: canonical JSON (read back with json.loads, the text is
    never compared; the standard module's spaced text cost three times as much), or left as values for a
    statement that takes the row as JSON itself (:func:`store_new_at_once`)."""
    return {
        "id": s.id,
        "form": s.form,
        "form_version": s.form_version,
        "district": s.district,
        "enterprise": s.enterprise,
        "collector": encode(s.collector),
        "collected_at": s.collected_at,
        "received_at": s.received_at,
        "content_hash": s.content_hash,
        "data": encode(s.data),
        "computed": encode(s.computed),
        "replaces": s.replaces,
        "event_key": s.order_key or None,
        "hazard_ref": s.hazard_ref,
        "superseded_by": s.superseded_by,
        "review_status": s.review_status,
        "review_comment": s.review_comment,
        "reviewer": s.reviewer,
        "reviewed_at": s.reviewed_at,
    }


def _from_row(row: Any) -> Submission:
    return from_row(
        Submission,
        row._mapping,
        submission_id=row.id,
        collector=json.loads(row.collector),
        data=json.loads(row.data),
        computed=json.loads(row.computed),
        # rows from before migration 0002 have no key stored: theirs was the enterprise, else the district
        order_key=row.event_key or row.enterprise or row.district,
    )


#: INSERT of a new submission (SQLite, PostgreSQL).  ON CONFLICT on the id only: a stored id (a retry, or a
#: racing twin) is the expected clash and comes back as no row, without an error that would abort the
#: transaction; any other unique key still raises.
_INSERT_NEW = tuple(
    dialect.insert(submissions).on_conflict_do_nothing(index_elements=["id"]).returning(submissions.c.id)
    for dialect in (sqlite, postgresql)
)


@lru_cache(maxsize=4)
def _recordset_insert(names: tuple[str, ...]) -> TextClause:
    """PostgreSQL: new first versions (rows of ``names``, as :func:`_to_row` makes them) as ONE statement with
    ONE parameter, a JSON array of the rows; ON CONFLICT on the id only, as :data:`_INSERT_NEW`.  An
    executemany of 50 rows was a 950-parameter statement that SQLAlchemy rendered and psycopg parsed again on
    every batch (a third of a batch's CPU)."""
    sql_type = {c.name: "integer" if isinstance(c.type, Integer) else "text" for c in submissions.c}
    spec = ", ".join(f'"{n}" {sql_type[n]}' for n in names)
    cols = ", ".join(f'"{n}"' for n in names)
    return text(
        f"INSERT INTO submissions ({cols}) SELECT {cols} FROM json_to_recordset(CAST(:rows AS json)) "
        f"AS r({spec}) ON CONFLICT (id) DO NOTHING RETURNING id"
    )


#: the outbox's columns as ``outbox.append`` writes them, every one text
_OUTBOX_COLUMNS = outbox.EVENT_COLUMNS


def _recordset(
    param: str, columns: tuple[str, ...], types: dict[str, str], arrays: tuple[str, ...] = ()
) -> str:
    """SQL for the rows of the JSON array parameter ``param``, in the array's order (column ``n``); with
    ``arrays``, those columns come from text-array parameters ``<param>_<column>`` (:class:`_TextArray`) in
    the same order, zipped in by ROWS FROM."""
    spec = ", ".join(f'"{c}" {types.get(c, "text")}' for c in columns)
    names = ", ".join(f'"{c}"' for c in (*columns, *arrays))
    unnested = "".join(f", unnest(CAST(:{param}_{c} AS text[]))" for c in arrays)
    return (
        f"ROWS FROM (json_to_recordset(CAST(:{param} AS json)) AS ({spec}){unnested}) WITH ORDINALITY "
        f"AS {param}_r({names}, n)"
    )


class _TextArray:
    """A ``text[]`` parameter written in PostgreSQL's binary array format (:func:`_text_array`)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class _TextArrayDumper(Dumper):
    format = pq.Format.BINARY
    oid = 1009  # text[]

    def dump(self, obj: _TextArray) -> bytes:
        return obj.data


#: a one-dimensional array's header (dimensions, has-nulls flag, element type: text, length, lower bound)
#: and an element's length, big-endian
_ARRAY_HEAD, _ELEMENT_LENGTH = struct.Struct("!iiIii"), struct.Struct("!i")


def _text_array(texts: list[bytes]) -> _TextArray:
    """``texts`` (UTF-8, none missing, at least one) as a binary ``text[]``: written here in one join, where
    psycopg's own list dumper escaped each element in Python (as slow as the JSON parse it would save)."""
    parts = [_ARRAY_HEAD.pack(1, 0, 25, len(texts), 1)]
    for text_ in texts:
        parts += (_ELEMENT_LENGTH.pack(len(text_)), text_)
    return _TextArray(b"".join(parts))


def _json_texts(rows: list[dict[str, Any]], column: str) -> _TextArray:
    """``column`` of ``rows``, taken out of each, as the canonical JSON texts of its values (orjson's, keys
    sorted: see :func:`store_new_at_once`) in a :class:`_TextArray`."""
    return _text_array([orjson.dumps(row.pop(column), option=orjson.OPT_SORT_KEYS) for row in rows])


@lru_cache(maxsize=4)
def _at_once_statement(names: tuple[str, ...], audited: bool) -> TextClause:
    """PostgreSQL: new first versions (rows of ``names`` and of the JSON columns), the outbox rows of those
    stored and their audit entries, as ONE statement (atomic on its own).  A stored id (a retry, a racing
    twin) is left out by ON CONFLICT on the id, and so are its outbox row and its audit entry (both name
    it); any other unique key raises and nothing is written.  The outbox insert notifies the relay's channel
    as ``outbox.append`` does (on commit: here, at the end of the statement)."""
    sql_type = {c.name: "integer" if isinstance(c.type, Integer) else "text" for c in submissions.c}
    cols = ", ".join(f'"{n}"' for n in (*names, *_JSON_COLUMNS))
    out_cols = ", ".join(f'"{c}"' for c in _OUTBOX_COLUMNS)
    # The JSON columns and the payloads come as text arrays, a text per row, not inside the JSON parameters:
    # as JSON values there PostgreSQL parsed each (the form's data twice: the row's and its event's) for
    # ~0.02 ms of its ~0.08 ms of CPU per batch item; JSON text inside JSON was slower still (unescaped)
    payload = ("data",)
    rows, events = (
        _recordset("rows", names, sql_type, _JSON_COLUMNS),
        _recordset("events", tuple(c for c in _OUTBOX_COLUMNS if c not in payload), {}, payload),
    )
    parts = [
        f"WITH new AS (INSERT INTO submissions ({cols}) SELECT {cols} FROM {rows} "
        "ORDER BY rows_r.n ON CONFLICT (id) DO NOTHING RETURNING id), "
        f"events AS (INSERT INTO outbox ({out_cols}) SELECT {out_cols} FROM {events} "
        "WHERE events_r.subject IN (SELECT id FROM new) ORDER BY events_r.n RETURNING 1)"
    ]
    if audited:
        audit_cols = ", ".join(f'"{c}"' for c in AUDIT_COLUMNS)
        parts.append(
            f", audited AS (INSERT INTO audit_log ({audit_cols}) SELECT {audit_cols} FROM "
            f"{_recordset('audit', AUDIT_COLUMNS, {})} WHERE audit_r.target IN (SELECT id FROM new) "
            "ORDER BY audit_r.n RETURNING 1)"
        )
    parts.append(
        f" SELECT id, (SELECT pg_notify('{outbox.CHANNEL}', '') FROM (SELECT 1 FROM events LIMIT 1) AS any_added) "
        "AS notified FROM new"
    )
    return text("".join(parts))


@lru_cache(maxsize=4)
def _at_once_sql(names: tuple[str, ...], audited: bool) -> str:
    """:func:`_at_once_statement` as psycopg's SQL text (``%(rows)s`` parameters), compiled once."""
    return str(_at_once_statement(names, audited).compile(dialect=postgresql.psycopg.dialect()))


def in_transaction(conn: Connection) -> bool:
    """Whether the connection's database transaction has begun (a statement was sent since BEGIN).  psycopg
    sends its BEGIN with the first statement, so a unit of work that has read nothing has none yet."""
    if conn.dialect.name != "postgresql":
        return True
    driver: Any = conn.connection.driver_connection
    return bool(driver.info.transaction_status != pq.TransactionStatus.IDLE)


def store_new_at_once(
    conn: Connection,
    subs: list[Submission],
    event_rows: list[dict[str, Any]],
    audit: list[dict[str, Any]],
) -> set[str]:
    """:func:`_at_once_statement` for ``subs`` (first versions without photos), the outbox rows of their
    events (``adapters.events.outbox_row``: each payload a value, not its text; taken out of them here) and
    the ``audit`` rows of those stored, in autocommit on ``conn``, whose transaction must not have begun
    (:func:`in_transaction`): one round trip where BEGIN, two inserts, COMMIT and an audit insert were five.
    The ids stored."""
    # The JSON columns and the events' payloads as orjson's text, keys sorted: the canonical JSON of a form's
    # values (orjson's text and the standard module's differ only in floats below 1e-4 and non-finite ones,
    # which no validated submission holds) without canonical_json's checks for what no row holds (its four
    # calls per row were a fifth of a batch item's CPU); the other columns in one JSON parameter
    rows = [_to_row(s, _as_is) for s in subs]
    # registered on this connection each time (~1 us), not once in psycopg's global map, which a connection
    # made before that registration would not have
    driver: Any = conn.connection.driver_connection
    driver.adapters.register_dumper(_TextArray, _TextArrayDumper)
    params: dict[str, Any] = {f"rows_{c}": _json_texts(rows, c) for c in _JSON_COLUMNS}
    params["events_data"] = _json_texts(event_rows, "data")
    sql = _at_once_sql(tuple(rows[0]), bool(audit))
    params["rows"] = orjson.dumps(rows).decode()
    params["events"] = orjson.dumps(event_rows).decode()
    if audit:
        params["audit"] = _param_json(audit)
    # The statement is one transaction by itself (autocommit: no BEGIN before it, no COMMIT after it).  The
    # unit of work's own transaction is then empty: its COMMIT or ROLLBACK sends nothing (psycopg skips both
    # on an idle connection).
    with race_lost():
        return {row[0] for row in execute_on_driver(conn, sql, params, autocommit=True)}


def insert_audit_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Audit-log rows (``AccessStore.audit_rows``) in ``conn``'s transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(_INSERT_AUDIT, {"audit": _param_json(rows)})
    else:
        conn.execute(insert(audit_log), rows)


_INSERT_AUDIT = text(
    f"INSERT INTO audit_log ({', '.join(AUDIT_COLUMNS)}) SELECT {', '.join(AUDIT_COLUMNS)} FROM "
    f"{_recordset('audit', AUDIT_COLUMNS, {})} ORDER BY audit_r.n"
)


def _param_json(rows: list[dict[str, Any]]) -> str:
    """A JSON array parameter: what PostgreSQL parses, never stored as sent (orjson: a third of the time)."""
    return orjson.dumps(rows).decode()


#: :attr:`Submission.counts` in SQL: the newest version of its lineage, not rejected
_COUNTS = and_(submissions.c.superseded_by.is_(None), submissions.c.review_status != "rejected")
#: values per IN list (SQLite's older builds allow 999 parameters per statement)
_CHUNK = 500


@contextmanager
def race_lost() -> Iterator[None]:
    """A unique constraint refused the write: say so in the port's terms."""
    try:
        yield
    except IntegrityError as exc:
        raise RaceLost(str(exc.orig)) from exc


class SqlSubmissionRepository(SubmissionRepository):
    def __init__(self, conn: Connection) -> None:
        super().__init__()
        self._conn = conn

    def _locking(self) -> bool:
        # SQLite has no row locks: its BEGIN IMMEDIATE (services.common.db) serialises whole transactions.
        return self._conn.dialect.name == "postgresql"

    def _load(self, submission_id: str, for_update: bool) -> Submission | None:
        stmt = select(submissions).where(submissions.c.id == submission_id)
        if for_update and self._locking():
            stmt = stmt.with_for_update()
        row = self._conn.execute(stmt).first()
        return None if row is None else _from_row(row)

    def _lock(self, submission_id: str) -> None:
        if self._locking():
            self._conn.execute(
                select(submissions.c.id).where(submissions.c.id == submission_id).with_for_update()
            )

    def _insert(self, sub: Submission) -> None:
        # The row goes as parameters of a statement built once: ``.values(row)`` made SQLAlchemy build a
        # bound parameter and a cache key from every value on every request (60% of the request's CPU).
        stmt = _INSERT_NEW[self._conn.dialect.name == "postgresql"]
        with race_lost():
            stored = self._conn.execute(stmt, _to_row(sub)).first()
        if stored is None:
            raise RaceLost(f"submission {sub.id} is stored already")
        self._link_photos([sub])

    def _link_photos(self, subs: list[Submission]) -> None:
        """Which photos the new versions name (who may read a photo follows their districts)."""
        links = [{"submission_id": s.id, "attachment_id": a} for s in subs for a in s.photos]
        if links:
            with race_lost():
                self._conn.execute(insert(submission_attachments), links)

    def add_new_many(self, subs: list[Submission]) -> set[str]:
        # one executemany with RETURNING: SQLAlchemy sends it as multi-row INSERTs ("insertmanyvalues")
        if not subs:
            return set()
        rows = [_to_row(s) for s in subs]
        with race_lost():
            if self._conn.dialect.name == "postgresql":
                stmt = _recordset_insert(tuple(rows[0]))
                found = self._conn.execute(stmt, {"rows": _param_json(rows)})
            else:
                found = self._conn.execute(_INSERT_NEW[False], rows)
            stored = {r.id for r in found}
        for sub in subs:
            if sub.id in stored:
                self._identity[sub.id] = sub
        self._link_photos([s for s in subs if s.id in stored])
        return stored

    def save(self, sub: Submission) -> None:
        with race_lost():
            self._conn.execute(update(submissions).where(submissions.c.id == sub.id).values(_to_row(sub)))

    def counting_rectifications(self, hazard_refs: list[str]) -> dict[str, Submission]:
        found: dict[str, Submission] = {}
        for start in range(0, len(hazard_refs), _CHUNK):
            rows = self._conn.execute(
                select(submissions).where(
                    submissions.c.hazard_ref.in_(hazard_refs[start : start + _CHUNK]), _COUNTS
                )
            )
            for row in rows:
                found[row.hazard_ref] = self._seen(_from_row(row))
        return found

    def counting_inspections(self, districts: list[str]) -> list[Submission]:
        rows = self._conn.execute(
            select(submissions)
            .where(submissions.c.form == INSPECTION, submissions.c.district.in_(districts), _COUNTS)
            .order_by(submissions.c.id)
        )
        return [self._seen(_from_row(r)) for r in rows]

    def _seen(self, sub: Submission) -> Submission:
        """A row read by a query, through the identity map: the object this transaction already holds, if any."""
        return self._identity.setdefault(sub.id, sub)

    def next_review_seq(self, submission_id: str) -> int:
        done = self._conn.execute(
            select(func.count()).select_from(reviews).where(reviews.c.submission_id == submission_id)
        ).scalar_one()
        return int(done) + 1

    def record_review(
        self, sub: Submission, seq: int, review_id: str | None, request_hash: str | None
    ) -> None:
        with race_lost():
            self._conn.execute(
                insert(reviews).values(
                    submission_id=sub.id,
                    seq=seq,
                    status=sub.review_status,
                    comment=sub.review_comment,
                    reviewer=sub.reviewer,
                    reviewed_at=sub.reviewed_at,
                    review_id=review_id,
                    request_hash=request_hash,
                )
            )

    def review_by_id(self, review_id: str) -> StoredReview | None:
        row = self._conn.execute(select(reviews).where(reviews.c.review_id == review_id)).first()
        if row is None:
            return None
        return StoredReview(
            review_id=review_id,
            submission_id=row.submission_id,
            seq=row.seq,
            status=row.status,
            request_hash=row.request_hash or "",
        )

    def reviews_of(self, submission_id: str) -> list[ReviewEntry]:
        rows = self._conn.execute(
            select(reviews).where(reviews.c.submission_id == submission_id).order_by(reviews.c.seq)
        ).all()
        return [
            {
                "seq": r.seq,
                "status": r.status,
                "comment": r.comment,
                "reviewer": r.reviewer,
                "at": r.reviewed_at,
            }
            for r in rows
        ]


class AttachmentRepository(abc.ABC):
    """Evidence photos, within one transaction of a unit of work.  Stored once, never changed."""

    @abc.abstractmethod
    def get_many(self, ids: list[str]) -> dict[str, Attachment]:
        """The attachments of these ids that are stored (their description, not their bytes)."""

    @abc.abstractmethod
    def add(self, attachment: Attachment, content: bytes) -> None:
        """Store a new photo; :class:`RaceLost` when its id is stored already."""

    @abc.abstractmethod
    def content(self, attachment_id: str) -> bytes | None:
        """A stored photo's bytes."""

    @abc.abstractmethod
    def districts_naming(self, attachment_id: str) -> set[str]:
        """The districts of the submissions (any version) that name this photo."""

    def get(self, attachment_id: str) -> Attachment | None:
        return self.get_many([attachment_id]).get(attachment_id)


def _attachment(row: Any) -> Attachment:
    return from_row(Attachment, row._mapping)


class SqlAttachmentRepository(AttachmentRepository):
    _DESCRIPTION = (
        attachments.c.id,
        attachments.c.sha256,
        attachments.c.content_type,
        attachments.c.size,
        attachments.c.owner,
        attachments.c.received_at,
    )

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get_many(self, ids: list[str]) -> dict[str, Attachment]:
        if not ids:
            return {}
        rows = self._conn.execute(select(*self._DESCRIPTION).where(attachments.c.id.in_(set(ids))))
        return {r.id: _attachment(r) for r in rows}

    def add(self, attachment: Attachment, content: bytes) -> None:
        with race_lost():
            self._conn.execute(insert(attachments).values(**to_row(attachment, content=content)))

    def content(self, attachment_id: str) -> bytes | None:
        found = self._conn.execute(
            select(attachments.c.content).where(attachments.c.id == attachment_id)
        ).scalar()
        return bytes(found) if found is not None else None

    def districts_naming(self, attachment_id: str) -> set[str]:
        rows = self._conn.execute(
            select(submissions.c.district)
            .join(submission_attachments, submission_attachments.c.submission_id == submissions.c.id)
            .where(submission_attachments.c.attachment_id == attachment_id)
            .distinct()
        )
        return {r.district for r in rows}
