"""Alembic environment of the access module (run through services.common.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from services.access.tables import metadata

config = context.config
version_table = config.attributes.get("version_table", "alembic_version_access")


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as conn:
            _configure(conn)
    else:
        _configure(connection)


def _configure(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        version_table=version_table,
        render_as_batch=True,  # SQLite needs batch mode to alter tables
    )
    with context.begin_transaction():
        context.run_migrations()


run()
