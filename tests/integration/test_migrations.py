"""The schema the services run on is the one Alembic builds, and the models do not drift from it.

The released migrations are frozen: the schema each service's ``upgrade`` builds (tables, columns with their
types, nullability and defaults, indexes, constraints, triggers) is compared, as text, with a snapshot committed
under ``migrated_schema/``; a refactor of the migration scripts must leave it byte for byte the same.  After a
deliberate schema change (a new migration), rewrite the snapshots with ``SCORE_WRITE_SCHEMA_SNAPSHOTS=1`` (the
test then fails once, naming the files it wrote) and review their diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData, inspect, text

from services.access import tables as access_tables
from services.aggregator.adapters import tables as aggregator_tables
from services.common.db import make_engine
from services.common.migrate import alembic_config, upgrade
from services.intake.adapters import tables as intake_tables
from tests.conftest import unique
from tests.servers import PostgresServer


def _url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite'}"
    pg: PostgresServer = request.getfixturevalue("postgres_server")
    return pg.fresh_database(unique("mig"))


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
@pytest.mark.parametrize(
    ("service", "metadata"),
    [
        ("intake", intake_tables.metadata),
        ("aggregator", aggregator_tables.metadata),
        ("access", access_tables.metadata),
    ],
)
def test_migrations_match_the_models(
    kind: str, service: str, metadata: MetaData, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    engine = make_engine(_url(kind, request, tmp_path))
    upgrade(service, engine)
    upgrade(service, engine)  # idempotent: a second run at head changes nothing
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": f"alembic_version_{service}"})
        diff = compare_metadata(context, metadata)
    assert diff == []


SNAPSHOTS = Path(__file__).with_name("migrated_schema")
SERVICES = ["intake", "aggregator", "access"]


def _sqlite_schema(conn: Connection) -> list[str]:
    # SQLite keeps each object's DDL as written: comparing it covers types, nullability, defaults, keys, partial
    # index predicates and trigger bodies at once
    rows = conn.execute(
        text(
            "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY 1, 2"
        )
    )
    return [f"{kind} {name} ON {table}\n{sql}" for kind, name, table, sql in rows]


def _postgres_schema(conn: Connection) -> list[str]:
    columns = conn.execute(
        text(
            "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        )
    )
    indexes = conn.execute(
        text("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY tablename, indexname")
    )
    constraints = conn.execute(
        text(
            "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
            "JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public' ORDER BY 1, 2"
        )
    )
    triggers = conn.execute(
        text(
            "SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class r ON r.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = r.relnamespace "
            "WHERE n.nspname = 'public' AND NOT t.tgisinternal ORDER BY t.tgname"
        )
    )
    functions = conn.execute(
        text(
            "SELECT p.proname, p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'public' ORDER BY 1"
        )
    )
    return [
        *(f"column {' '.join(map(str, row))}" for row in columns),
        *(f"index {row[0]}" for row in indexes),
        *(f"constraint {' '.join(row)}" for row in constraints),
        *(f"trigger {row[0]}" for row in triggers),
        *(f"function {name}: {' '.join(body.split())}" for name, body in functions),
    ]


def _schema(conn: Connection) -> str:
    dump = _sqlite_schema(conn) if conn.dialect.name == "sqlite" else _postgres_schema(conn)
    return "\n".join(dump) + "\n"


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
@pytest.mark.parametrize("service", SERVICES)
def test_migrated_schema_matches_the_snapshot(
    kind: str, service: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The released migrations build exactly the schema they built when they were released, and their
    downgrades undo it all: downgraded to base and upgraded again, the schema is the same once more."""
    engine = make_engine(_url(kind, request, tmp_path))
    upgrade(service, engine)
    with engine.connect() as conn:
        built = _schema(conn)
    snapshot = SNAPSHOTS / f"{service}.{kind}.txt"
    if os.environ.get("SCORE_WRITE_SCHEMA_SNAPSHOTS") == "1":
        snapshot.parent.mkdir(exist_ok=True)
        snapshot.write_text(built)
        pytest.fail(f"wrote {snapshot}: review its diff, then run again without SCORE_WRITE_SCHEMA_SNAPSHOTS")
    assert built == snapshot.read_text()

    cfg = alembic_config(service, engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    with engine.connect() as conn:
        assert inspect(conn).get_table_names() == [f"alembic_version_{service}"]
    upgrade(service, engine)
    with engine.connect() as conn:
        assert _schema(conn) == built
