"""Run a service's Alembic migrations programmatically (``score migrate`` and the tests use this).

Each service has its own migration history and version table, so the two services can share one database
(the embedded default may) or use separate ones without stepping on each other.  ``run_environment`` is the
whole of both services' ``migrations/env.py``: they differ only in their tables and their version table.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, Engine, MetaData, create_engine


def version_table(service: str) -> str:
    return f"alembic_version_{service}"


def alembic_config(service: str, url: str) -> Config:
    here = Path(__file__).resolve().parent.parent / service / "migrations"
    cfg = Config()
    cfg.set_main_option("script_location", str(here))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["version_table"] = version_table(service)
    return cfg


def upgrade(service: str, engine: Engine, revision: str = "head") -> None:
    cfg = alembic_config(service, engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def run_environment(service: str, metadata: MetaData) -> None:
    """Run the migrations Alembic asked for, on the caller's connection (``upgrade``) or on the configured
    URL; called from a service's ``migrations/env.py`` while Alembic runs it."""
    config = context.config
    table = config.attributes.get("version_table", version_table(service))
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        _run(connection, metadata, table)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _run(conn, metadata, table)


def _run(connection: Connection, metadata: MetaData, table: str) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=table,
        render_as_batch=True,  # SQLite needs batch mode to alter tables
    )
    with context.begin_transaction():
        context.run_migrations()
