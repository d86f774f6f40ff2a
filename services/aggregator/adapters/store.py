"""Reads and writes of the aggregator's tables inside one open transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    Date,
    String,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from services.aggregator.adapters.tables import (
    daily,
    daily_members,
    dead_letters,
    facts,
    hazard_rectifications,
    hazards,
    positions,
    processed_events,
    rollup_changes,
    versions,
)
from services.aggregator.domain.facts import Fact
from services.aggregator.domain.kpis import Cell, MemberCell, hazard_id
from services.aggregator.domain.periods import PERIODS, Period, period_of
from services.common.codes import ancestors
from services.common.records import from_row
from services.eventlog.source import NOTHING


class PositionMoved(RuntimeError):
    """Another transaction moved a position this one had locked: nothing of this batch is written."""


@dataclass
class Counts:
    """What a batch did with the records of one partition."""

    applied: int = 0
    duplicates: int = 0
    dead_letters: int = 0


def _insert(conn: Connection, table: Any) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def _set_based(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _set_insert(
    conn: Connection, table: Any, rows: list[dict[str, Any]], tail: str = "", wrap: str = "{}"
) -> Any:
    """One ``INSERT .. SELECT FROM json_to_recordset(<all rows as one JSON text>) <tail>`` (PostgreSQL).

    A batch's rows of a table go as one statement whose text does not depend on the row count: the server
    parses and plans it once, where an executemany runs one statement per row.  The rows travel as a single
    JSON parameter because encoding them is one call to a C JSON encoder (orjson: dates as ISO days, ~5x the
    standard module), while psycopg builds array parameters (``unnest``) element by element in Python (a
    third of the apply time in a profile).  ``tail`` is an ON CONFLICT / RETURNING clause; ``wrap``, a query
    around the statement (``{}``), e.g. one that aggregates what it returns.
    """
    cols = list(rows[0])
    quote = conn.dialect.identifier_preparer.quote
    record = ", ".join(f"{quote(c)} {table.c[c].type.compile(dialect=conn.dialect)}" for c in cols)
    names = ", ".join(quote(c) for c in cols)
    sql = (
        f"INSERT INTO {quote(table.name)} ({names}) "
        f"SELECT {names} FROM json_to_recordset(CAST(:rows AS json)) AS r({record}) {tail}"
    )
    return conn.execute(text(wrap.format(sql)), {"rows": orjson.dumps(rows).decode()})


def _bulk_insert(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    if _set_based(conn):
        _copy(conn, table, rows)
    else:
        conn.execute(insert(table), rows)


def _copy(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """``COPY .. FROM STDIN`` of plain inserts (PostgreSQL), in the caller's transaction.

    For the rows of brand-new facts (a ~1 KB payload each) COPY is the cheapest way in on both sides: psycopg
    formats the rows in C, and the server neither parses a statement per row nor a JSON document per batch
    (json_to_recordset spent its time re-reading the payload text inside the JSON that carried it)."""
    cols = list(rows[0])
    quote = conn.dialect.identifier_preparer.quote
    raw = conn.connection.dbapi_connection
    assert raw is not None
    with raw.cursor() as cur:  # type: ignore[attr-defined]
        with cur.copy(f"COPY {quote(table.name)} ({', '.join(quote(c) for c in cols)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(tuple(row.values()))


class Store:
    """The aggregator's tables inside one open transaction (the caller's ``engine.begin()`` is the unit of
    work).  Brand-new facts are buffered and written in bulk; every method that reads or rewrites stored facts
    writes that buffer first, so no caller has to remember to."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        # PostgreSQL: brand-new facts go out as they come, through one COPY left open until the next statement
        # (see add_new_fact); elsewhere they are buffered and written in bulk by flush()
        self._stream = _set_based(conn)
        self._facts_copy: ExitStack | None = None
        self._facts_out: Any = None
        self._new_facts: list[dict[str, Any]] = []
        self._new_hazards: list[dict[str, Any]] = []
        self._new_rectifications: list[dict[str, Any]] = []
        self._pending: set[str] = set()
        # hazards whose rectification state (hazards.rectified_on / rectified_on_time) may have changed in this
        # transaction: recomputed from their rectifications by refresh_hazards()
        self._hazards_touched: set[str] = set()
        # new hazards: their state is "not rectified" unless a rectification named them before they arrived
        self._hazards_new: set[str] = set()

    @property
    def conn(self) -> Connection:
        """The transaction's connection, ready for a statement: a COPY of new facts in progress is ended
        first (a connection in COPY takes nothing else), so no method has to remember to."""
        if self._facts_copy is not None:
            self._end_facts_copy()
        return self._conn

    def _end_facts_copy(self) -> None:
        stack, self._facts_copy, self._facts_out = self._facts_copy, None, None
        if stack is not None:
            stack.close()  # the end of the data: the server finishes the rows still on their way, or raises

    def abort(self, exc: BaseException) -> None:
        """The transaction fails with ``exc``: end a COPY in progress as failed, so the server drops its rows
        and the connection can roll back (instead of being left in COPY, which refuses the rollback)."""
        stack, self._facts_copy, self._facts_out = self._facts_copy, None, None
        if stack is not None:
            try:
                stack.__exit__(type(exc), exc, exc.__traceback__)
            except BaseException:  # noqa: BLE001 - ``exc`` is the error to report; the rollback follows
                pass

    # -- idempotence and positions ---------------------------------------------------------------------
    def claim_many(self, claims: list[tuple[str, int, int]]) -> set[str]:
        """Record a batch's events as applied, in one statement, with where each was read (event id,
        partition, offset); returns the ids not applied before (the rest are redeliveries).  On PostgreSQL a
        concurrent claim of the same id waits for the other transaction and then sees it.  RETURNING, not
        rowcount: psycopg reports -1 for INSERT .. ON CONFLICT DO NOTHING."""
        unique: dict[str, tuple[int, int]] = {}
        for event_id, partition, offset in claims:
            unique.setdefault(event_id, (partition, offset))
        if not unique:
            return set()
        if _set_based(self.conn):
            rows = [{"event_id": i, "partition": p, "offset": o} for i, (p, o) in unique.items()]
            # the new ids come back as one JSON array in one row (one orjson call), not a row per id through
            # the driver and SQLAlchemy's row objects (~4 us an event in a profile)
            claimed = _set_insert(
                self.conn,
                processed_events,
                rows,
                "ON CONFLICT DO NOTHING RETURNING event_id",
                wrap="WITH claimed AS ({}) SELECT CAST(coalesce(json_agg(event_id), '[]') AS text) FROM claimed",
            ).scalar_one()
            return set(orjson.loads(claimed))
        stmt = (
            _insert(self.conn, processed_events)
            .values([{"event_id": i, "partition": p, "offset": o} for i, (p, o) in unique.items()])
            .on_conflict_do_nothing()
            .returning(processed_events.c.event_id)
        )
        return {r.event_id for r in self.conn.execute(stmt)}

    def move_claim(self, event_id: str, partition: int, offset: int) -> None:
        """Say that a claim this transaction made belongs to the record at (partition, offset): the record it
        named first turned out to carry no event (its payload was not JSON), a later one with the id does."""
        e = processed_events
        self.conn.execute(
            update(e).where(e.c.event_id == event_id).values(partition=partition, offset=offset)
        )

    def release_claims(self, event_ids: Iterable[str]) -> None:
        """Drop claims this transaction made for records that carried no event after all (see move_claim)."""
        ids = sorted(event_ids)
        if ids:
            self.conn.execute(delete(processed_events).where(processed_events.c.event_id.in_(ids)))

    def stored_submissions(self, submission_ids: list[str]) -> set[str]:
        """Which of ``submission_ids`` are stored already: as a lineage (its first version) or as a later
        version of one.  An accepted event for either must take the careful path: a first version whose id
        is stored as another lineage's version would otherwise go into the bulk insert and fail its whole
        batch on ``facts.submission_id``'s uniqueness (the event fuzz test found it)."""
        self.flush()
        if not submission_ids:
            return set()
        ids = list(set(submission_ids))
        if _set_based(self.conn):
            # one JSON text parameter: an IN list of a batch's thousands of ids is compiled value by value, and
            # psycopg builds an array parameter element by element in Python (orjson: one C call)
            rows = self.conn.execute(
                text(
                    "WITH ids AS (SELECT json_array_elements_text(CAST(:ids AS json)) AS id) "
                    "SELECT lineage_id AS id FROM facts WHERE lineage_id IN (SELECT id FROM ids) "
                    "UNION SELECT submission_id FROM versions WHERE submission_id IN (SELECT id FROM ids)"
                ),
                {"ids": orjson.dumps(ids).decode()},
            )
        else:
            rows = self.conn.execute(
                select(facts.c.lineage_id.label("id"))
                .where(facts.c.lineage_id.in_(ids))
                .union(select(versions.c.submission_id).where(versions.c.submission_id.in_(ids)))
            )
        return {r.id for r in rows}

    # -- bulk path for new facts ----------------------------------------------------------------------
    def pending(self, lineage_id: str) -> bool:
        return lineage_id in self._pending

    def add_new_fact(
        self,
        lineage_id: str,
        row: tuple[Any, ...],
        hazards: list[dict[str, Any]],
        mark: tuple[str, date, bool] | None,
    ) -> None:
        """Buffer a fact whose lineage is new (nothing stored to read or replace), with its ledger rows:
        ``row`` is its ``fact_row``, ``hazards`` its ``hazard_rows`` and ``mark`` its ``rectification``, all
        derived by the caller before the transaction began (``apply.prepare``)."""
        self._pending.add(lineage_id)
        if self._stream:
            # Sent while the batch is still being read: psycopg passes the rows on every 32 KiB, and the server
            # inserts them (~20 us an event of its CPU, the largest part of a batch's) while this thread
            # derives the next events, instead of all at once at the end with this thread waiting.
            # The COPY is binary (``_open_facts_copy``), whose columns take str only: every text of a fact is
            # one (``facts.fact_from_submission`` dead-letters a payload with another JSON value there).
            (self._facts_out or self._open_facts_copy()).write_row(row)
        else:
            self._new_facts.append(dict(zip(_FACT_ROW, row, strict=True)))
        self._new_hazards.extend(hazards)
        if mark is not None:
            hazard, on, on_time = mark
            self._new_rectifications.append(
                {
                    "rectification_lineage": lineage_id,
                    "hazard_id": hazard,
                    "rectified_on": on,
                    "on_time": on_time,
                }
            )

    def _open_facts_copy(self) -> Any:
        raw = self._conn.connection.dbapi_connection
        assert raw is not None
        stack = ExitStack()
        try:
            cursor: Any = stack.enter_context(raw.cursor())  # type: ignore[arg-type]
            names = ", ".join(self._conn.dialect.identifier_preparer.quote(c) for c in _FACT_ROW)
            # binary: psycopg formats a row ~2x faster than as text (no text escaping of the ~1.3 KB payload),
            # and the server reads the date as 4 bytes; the types say how to send each value, the server takes
            # them by its columns' own types (text and varchar alike are their UTF-8 bytes; lengths checked)
            out = stack.enter_context(cursor.copy(f"COPY facts ({names}) FROM STDIN (FORMAT BINARY)"))
            out.set_types(_FACT_TYPES)
            self._facts_out = out
        except BaseException:
            stack.close()
            raise
        self._facts_copy = stack
        return self._facts_out

    def flush(self) -> None:
        self._end_facts_copy()
        if self._new_facts:
            _bulk_insert(self.conn, facts, self._new_facts)  # a first version: no versions row (lineage_of)
        if self._new_hazards:
            _bulk_insert(self.conn, hazards, self._new_hazards)
            # a new hazard has no rectification yet unless one arrived before its inspection: refresh checks
            self._hazards_new.update(h["hazard_id"] for h in self._new_hazards)
        if self._new_rectifications:
            _bulk_insert(self.conn, hazard_rectifications, self._new_rectifications)
            self._hazards_touched.update(r["hazard_id"] for r in self._new_rectifications)
        self._new_facts, self._new_hazards, self._new_rectifications = [], [], []
        self._pending.clear()

    def refresh_hazards(self) -> None:
        """Recompute the rectification state of the hazards this transaction touched (new hazards, hazards of
        a corrected inspection, hazards a rectification was added to or taken from): ``rectified_on`` is the
        day of its first counting rectification (None: none), ``rectified_on_time`` whether any was on time.
        Call once per batch, after the last write; only rows whose state differs are updated."""
        self.flush()
        r = hazard_rectifications
        if self._hazards_new:
            # one index probe each, usually finding nothing: cheaper than recomputing every new hazard's state
            self._hazards_touched.update(
                self.conn.execute(
                    select(r.c.hazard_id).where(self._among(r.c.hazard_id, self._hazards_new))
                ).scalars()
            )
        ids = sorted(self._hazards_touched)
        self._hazards_touched, self._hazards_new = set(), set()
        if not ids:
            return
        first_on = (
            select(func.min(r.c.rectified_on)).where(r.c.hazard_id == hazards.c.hazard_id).scalar_subquery()
        )
        on_time = exists().where(r.c.hazard_id == hazards.c.hazard_id, r.c.on_time.is_(True))
        self.conn.execute(
            update(hazards)
            .where(
                self._among(hazards.c.hazard_id, ids),
                hazards.c.rectified_on.is_distinct_from(first_on) | (hazards.c.rectified_on_time != on_time),
            )
            .values(rectified_on=first_on, rectified_on_time=on_time)
        )

    def _among(self, column: Any, values: Iterable[str]) -> Any:
        """``column IN values``: on PostgreSQL one JSON text parameter (an IN list is compiled value by value,
        and psycopg dumps an array parameter element by element in Python; orjson encodes it in one call)."""
        if _set_based(self.conn):
            ids = bindparam("ids", orjson.dumps(sorted(values)).decode(), type_=String)
            return column.in_(select(func.json_array_elements_text(cast(ids, postgresql.JSON))))
        return column.in_(sorted(values))

    def position(self, source: str, partition: int) -> int | None:
        return self.conn.execute(
            select(positions.c.offset).where(positions.c.source == source, positions.c.partition == partition)
        ).scalar()

    def lock_positions(self, source: str, partitions: Iterable[int]) -> dict[int, int]:
        """The stored position of each partition (NOTHING if none), locked until the transaction ends, so
        two consumers that both hold a partition for a moment (a rebalance) take turns and the second sees
        where the first left it."""
        wanted = sorted(set(partitions))
        if not wanted:
            return {}
        self.conn.execute(
            _insert(self.conn, positions)
            .values([{"source": source, "partition": p, "offset": NOTHING} for p in wanted])
            .on_conflict_do_nothing()
        )
        query = (
            select(positions.c.partition, positions.c.offset)
            .where(positions.c.source == source, positions.c.partition.in_(wanted))
            .order_by(positions.c.partition)
        )
        if self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        return {int(r.partition): int(r.offset) for r in self.conn.execute(query)}

    def advance_position(self, source: str, partition: int, expected: int, to: int, counts: Counts) -> None:
        """Move a locked position from ``expected`` to ``to``, adding what was done with the records between.
        Refuses (PositionMoved) if the stored position is no longer ``expected``: never a silent jump."""
        done = self.conn.execute(
            update(positions)
            .where(
                positions.c.source == source,
                positions.c.partition == partition,
                positions.c.offset == expected,
            )
            .values(
                offset=to,
                applied=positions.c.applied + counts.applied,
                duplicates=positions.c.duplicates + counts.duplicates,
                dead_letters=positions.c.dead_letters + counts.dead_letters,
                updated_at=datetime.now(UTC).isoformat(timespec="seconds"),  # the dashboard's freshness
            )
        )
        if done.rowcount != 1:
            raise PositionMoved(f"{source} partition {partition}: stored position is no longer {expected}")

    def dead_letter(
        self, source: str, partition: int, offset: int, event_id: str | None, reason: str, raw: str | None
    ) -> None:
        self.conn.execute(
            insert(dead_letters).values(
                source=source,
                partition=partition,
                offset=offset,
                event_id=event_id,
                reason=reason[:2000],
                raw=raw,
                received_at=datetime.now(UTC).isoformat(),
            )
        )

    # -- facts -----------------------------------------------------------------------------------------
    def lineage_of(self, submission_id: str) -> str | None:
        """The lineage a version belongs to: a replacing version's from ``versions``; a first version names
        its lineage, which is stored if ``facts`` has it (first versions have no ``versions`` row)."""
        self.flush()
        lineage = self.conn.execute(
            select(versions.c.lineage_id).where(versions.c.submission_id == submission_id)
        ).scalar()
        if lineage is not None:
            return str(lineage)
        return self.conn.execute(
            select(facts.c.lineage_id).where(facts.c.lineage_id == submission_id)
        ).scalar()

    def add_version(self, submission_id: str, lineage_id: str) -> None:
        if submission_id == lineage_id:
            return  # a lineage's first version: derived from facts, not stored (lineage_of)
        self.flush()
        stmt = _insert(self.conn, versions).values(submission_id=submission_id, lineage_id=lineage_id)
        self.conn.execute(stmt.on_conflict_do_nothing())

    def fact(self, lineage_id: str) -> Fact | None:
        self.flush()
        row = self.conn.execute(select(facts).where(facts.c.lineage_id == lineage_id)).first()
        return None if row is None else fact_from_row(row)

    def put_fact(self, fact: Fact) -> None:
        self.flush()
        values = _fact_values(fact)
        done = self.conn.execute(update(facts).where(facts.c.lineage_id == fact.lineage_id).values(values))
        if not done.rowcount:
            self.conn.execute(insert(facts).values(lineage_id=fact.lineage_id, **values))

    # -- rollup cells ----------------------------------------------------------------------------------
    def add_cells(self, delta: dict[Cell, int]) -> None:
        """Add to base cells in one sorted pass (a fixed lock order: no deadlocks between consumers)."""
        if not delta:
            return
        rows = [
            {"district": d, "day": day, "industry": ind, "metric": m, "value": v}
            for (d, day, ind, m), v in sorted(delta.items())
        ]
        if _set_based(self.conn):
            # one key once per statement (the deltas are summed per batch), in sorted order: the lock order
            _set_insert(
                self.conn,
                daily,
                rows,
                "ON CONFLICT (district, day, industry, metric) DO UPDATE SET value = daily.value + EXCLUDED.value",
            )
            return
        stmt = _insert(self.conn, daily)
        stmt = stmt.on_conflict_do_update(
            index_elements=["district", "day", "industry", "metric"],
            set_={"value": daily.c.value + stmt.excluded.value},
        )
        self.conn.execute(stmt, rows)

    def add_members(self, delta: dict[MemberCell, int]) -> None:
        if not delta:
            return
        rows = [
            {"district": d, "day": day, "industry": ind, "metric": m, "member": mem, "count": v}
            for (d, day, ind, m, mem), v in sorted(delta.items())
        ]
        if _set_based(self.conn):
            _set_insert(
                self.conn,
                daily_members,
                rows,
                "ON CONFLICT (district, day, industry, metric, member) "
                'DO UPDATE SET "count" = daily_members."count" + EXCLUDED."count"',
            )
            return
        stmt = _insert(self.conn, daily_members)
        stmt = stmt.on_conflict_do_update(
            index_elements=["district", "day", "industry", "metric", "member"],
            set_={"count": daily_members.c.count + stmt.excluded.count},
        )
        self.conn.execute(stmt, rows)

    # -- rollup topic outbox ------------------------------------------------------------------------------
    def mark_rollups_changed(self, cells: set[tuple[str, date]]) -> None:
        """Every division above a changed cell, for every period containing its day, is now stale."""
        # A batch touches many days of few periods and many districts of few ancestors: reduce to the
        # distinct (district, period) pairs before expanding to the divisions above (a batch of 5,000
        # events is ~1,500 (district, day) cells but a few dozen rows here).
        periods = {(district, p) for district, day in cells for p in _periods_of(day)}
        keys = {(code, p.kind, p.key, p.start) for district, p in periods for code in _ancestors(district)}
        if not keys:
            return
        rows = [
            {"district": c, "period_kind": k, "period_key": key, "period_start": start, "version": 1}
            for c, k, key, start in sorted(keys)
        ]
        if _set_based(self.conn):
            _set_insert(
                self.conn,
                rollup_changes,
                rows,
                "ON CONFLICT (district, period_kind, period_key) "
                "DO UPDATE SET version = rollup_changes.version + 1",
            )
            return
        stmt = _insert(self.conn, rollup_changes)
        stmt = stmt.on_conflict_do_update(
            index_elements=["district", "period_kind", "period_key"],
            set_={"version": rollup_changes.c.version + 1},
        )
        self.conn.execute(stmt, rows)

    # -- hazard ledger ---------------------------------------------------------------------------------
    def replace_inspection_hazards(self, fact: Fact) -> None:
        """The ledger rows of an inspection follow its current version (rectifications live in their own
        table by hazard id, so a correction that keeps a hazard keeps its rectifications)."""
        self.flush()
        self.conn.execute(delete(hazards).where(hazards.c.inspection_lineage == fact.lineage_id))
        rows = hazard_rows(fact)
        if rows:
            self.conn.execute(insert(hazards), rows)
            self._hazards_touched.update(h["hazard_id"] for h in rows)

    def put_rectification(self, lineage_id: str, mark: tuple[str, date, bool] | None) -> None:
        """The rectification row of a rectification lineage: replaced, or removed when it no longer counts."""
        self.flush()
        removed = self.conn.execute(
            delete(hazard_rectifications)
            .where(hazard_rectifications.c.rectification_lineage == lineage_id)
            .returning(hazard_rectifications.c.hazard_id)
        )
        self._hazards_touched.update(r.hazard_id for r in removed)
        if mark is not None:
            hazard_id, on, on_time = mark
            self.conn.execute(
                insert(hazard_rectifications).values(
                    rectification_lineage=lineage_id, hazard_id=hazard_id, rectified_on=on, on_time=on_time
                )
            )
            self._hazards_touched.add(hazard_id)


@lru_cache(maxsize=4096)
def _periods_of(day: date) -> tuple[Period, ...]:
    return tuple(period_of(kind, day) for kind in PERIODS)


@lru_cache(maxsize=4096)
def _ancestors(district: str) -> tuple[str, ...]:
    return tuple(ancestors(district))


def _fact_values(fact: Fact, payload_json: str | None = None) -> dict[str, Any]:
    """The column values of a fact; the payload is stored as JSON text (read back with ``json.loads`` only,
    so any text of the same value will do: ``payload_json`` if the caller has it)."""
    return {
        "submission_id": fact.submission_id,
        "form": fact.form,
        "district": fact.district,
        "enterprise": fact.enterprise,
        "industry": fact.industry,
        "day": fact.day,
        "review_status": fact.review_status,
        "payload": payload_json if payload_json is not None else _payload_text(fact.payload),
    }


def _payload_text(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # a lone surrogate (a "\\ud800" escape in the event's JSON): only its escape is UTF-8 text, and the
        # driver's encoding failed the whole batch, for ever (the event fuzz test found it)
        text = json.dumps(payload, sort_keys=True)
    return text


#: the columns of ``facts`` in the order of ``fact_row``'s values (``add_new_fact``'s COPY names them)
_FACT_ROW = (
    "lineage_id",
    "submission_id",
    "form",
    "district",
    "enterprise",
    "industry",
    "day",
    "review_status",
    "payload",
)
if set(_FACT_ROW) != set(facts.c.keys()):  # a column added to facts must be written by the COPY too
    raise RuntimeError(f"_FACT_ROW {_FACT_ROW} does not name the columns of facts {tuple(facts.c.keys())}")


#: how ``fact_row``'s values are sent in the binary COPY: ``day`` as a date, the rest as text
_FACT_TYPES = tuple("date" if isinstance(facts.c[c].type, Date) else "text" for c in _FACT_ROW)
if any(not isinstance(facts.c[c].type, (Date, String)) for c in _FACT_ROW):
    raise RuntimeError("a facts column is neither text nor a date: say how add_new_fact's COPY sends it")


def fact_row(fact: Fact, payload_json: str | None = None) -> tuple[Any, ...]:
    """``lineage_id`` and ``_fact_values`` as one tuple in the order of ``_FACT_ROW`` (a unit test holds the
    two to the same values)."""
    return (
        fact.lineage_id,
        fact.submission_id,
        fact.form,
        fact.district,
        fact.enterprise,
        fact.industry,
        fact.day,
        fact.review_status,
        payload_json if payload_json is not None else _payload_text(fact.payload),
    )


def hazard_rows(fact: Fact) -> list[dict[str, Any]]:
    """The ledger rows of an inspection fact, one per hazard found."""
    return [
        {
            "hazard_id": hazard_id(fact.lineage_id, h.item_code),
            "inspection_lineage": fact.lineage_id,
            "district": fact.district,
            "industry": fact.industry,
            "found_on": fact.day,
            "severity": h.severity,
            "category": h.category,
            "deadline": h.deadline,
            "counts": fact.counts,
        }
        for h in fact.hazards
    ]


def as_date(value: Any) -> date:
    """A DATE column's value: a date on PostgreSQL, ISO text on SQLite."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def fact_from_row(row: Any) -> Fact:
    return from_row(Fact, row._mapping, day=as_date(row.day), payload=json.loads(row.payload))


def all_facts(conn: Connection) -> Iterable[Fact]:
    for row in conn.execute(select(facts).order_by(facts.c.lineage_id)).yield_per(2000):
        yield fact_from_row(row)
