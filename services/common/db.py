"""Engines for both services: SQLite on the embedded default, PostgreSQL when configured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event


def make_engine(url: str, read_only: bool = False, **kwargs: Any) -> Engine:
    """An engine for ``url``.

    On SQLite every transaction of a writing engine starts with ``BEGIN IMMEDIATE``: a unit of work reads
    (is this submission id known?) then writes, and a deferred transaction would fail with SQLITE_BUSY instead
    of waiting when another writer got in between.  ``read_only`` engines (log readers) use a plain BEGIN and
    never block writers (WAL).
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
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _ensure_parent_dir(url: str) -> None:
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
