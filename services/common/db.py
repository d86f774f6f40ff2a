"""Engines for both services: SQLite on the embedded default, PostgreSQL when configured."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import pq
from sqlalchemy import Connection, Engine, create_engine, event, exc


def make_engine(
    url: str, read_only: bool = False, ping_idle_after: float | None = None, **kwargs: Any
) -> Engine:
    """An engine for ``url``.

    On SQLite every transaction of a writing engine starts with ``BEGIN IMMEDIATE``: a unit of work reads
    (is this submission id known?) then writes, and a deferred transaction would fail with SQLITE_BUSY instead
    of waiting when another writer got in between.  ``read_only`` engines (log readers) use a plain BEGIN and
    never block writers (WAL).

    On PostgreSQL a pooled connection is pinged (``SELECT 1``) before use, so one left broken by a database
    restart is replaced instead of failing its request.  ``ping_idle_after`` (seconds) pings only connections
    that sat idle in the pool longer than that: under load a connection goes back out within milliseconds and
    the ping would be one round trip in every request's few (the intake's hot path); after a restart the
    first request on a connection that was busy across it can fail (503) and the pool then drops them all.
    """
    if url.startswith("sqlite"):
        _ensure_parent_dir(url)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets the aggregator read the outbox while the intake writes; synchronous=FULL because an
            # acknowledged submission must survive a power cut, not just a process crash.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
            # Let SQLAlchemy's BEGIN actually start the transaction (pysqlite defers it otherwise), so a
            # read-then-write unit of work cannot interleave with another writer.
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    if ping_idle_after is None:
        return create_engine(url, pool_pre_ping=True, **kwargs)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < ping_idle_after:
            return
        try:
            cur = dbapi_conn.cursor()
            cur.execute("SELECT 1")
            cur.close()
            # psycopg opened a transaction for the ping: end it, the caller begins its own
            dbapi_conn.rollback()
        except Exception as error:
            # the pool discards this connection and checks out another (SQLAlchemy's documented pattern)
            raise exc.DisconnectionError(str(error)) from error

    return engine


def _ensure_parent_dir(url: str) -> None:
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def execute_on_driver(
    conn: Connection, sql: str, params: dict[str, Any], *, autocommit: bool = False
) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` (psycopg's text: ``%(name)s`` parameters) run on ``conn``'s psycopg connection
    itself, not through SQLAlchemy's execution: for the statements that every request runs.

    SQLAlchemy's execution (cache key, compiled parameters, execution context, result metadata) cost ~0.17 ms
    of the ~0.27 ms a single submission's one statement took, and ~0.33 ms of the ~0.46 ms of the bearer
    check's SELECT (profiles of a gunicorn worker under wrk, confirmed in process).  What it does besides is
    kept: an error is handed to its own handler, which wraps it as for any statement (an IntegrityError, which
    the intake's ``race_lost`` still sees; an OperationalError, answered 503) and, when the connection is lost,
    invalidates it and the pool's older connections, as a failed ``execute`` would; and so are its cursor
    events (``before_cursor_execute``, ``after_cursor_execute``: what instrumentation and the tests watch),
    when something listens for them.

    ``autocommit``: the statement is a transaction of its own, sent with psycopg in autocommit, where it would
    otherwise be preceded by a BEGIN and need a COMMIT or ROLLBACK: one round trip where there were three.
    ``conn``'s transaction must not have begun; the connection goes back to what it was (and is invalidated
    if it broke meanwhile: it must never go back to the pool in autocommit unbeknown to SQLAlchemy).
    """
    driver: Any = conn.connection.driver_connection
    if not autocommit or driver.autocommit:
        return _execute(conn, driver, sql, params)
    if driver.info.transaction_status != pq.TransactionStatus.IDLE:
        raise RuntimeError("a statement in autocommit needs a connection whose transaction has not begun")
    driver.autocommit = True
    try:
        return _execute(conn, driver, sql, params)
    finally:
        try:
            driver.autocommit = False
        except psycopg.Error:
            # the connection broke during the statement (SQLAlchemy has usually invalidated it already;
            # then this does nothing)
            conn.invalidate()


def _execute(conn: Connection, driver: Any, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    watched = conn._has_events or conn.engine._has_events
    try:
        with driver.cursor() as cur:
            if watched:
                for before in conn.dispatch.before_cursor_execute:
                    sql, params = before(conn, cur, sql, params, None, False)  # as SQLAlchemy's own loop
            cur.execute(sql, params)
            rows: list[tuple[Any, ...]] = cur.fetchall()
            if watched:
                conn.dispatch.after_cursor_execute(conn, cur, sql, params, None, False)
            return rows
    except psycopg.Error as exc:
        # private, but what SQLAlchemy's own commit and rollback call with no cursor and no context; it raises
        conn._handle_dbapi_exception(exc, sql, params, None, None)
        raise  # not reached: the handler always raises
