"""Engines for both services: SQLite on the embedded default, PostgreSQL when configured."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc


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
