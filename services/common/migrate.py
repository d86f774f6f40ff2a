"""Run a service's Alembic migrations programmatically (``score migrate`` and the tests use this).

Each service has its own migration history and version table, so the two services can share one database
(the embedded default may) or use separate ones without stepping on each other.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine


def alembic_config(service: str, url: str) -> Config:
    here = Path(__file__).resolve().parent.parent / service / "migrations"
    cfg = Config()
    cfg.set_main_option("script_location", str(here))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["version_table"] = f"alembic_version_{service}"
    return cfg


def upgrade(service: str, engine: Engine, revision: str = "head") -> None:
    cfg = alembic_config(service, engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
