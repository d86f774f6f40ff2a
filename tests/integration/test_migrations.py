"""The schema the services run on is the one Alembic builds, and the models do not drift from it."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData

from services.access import tables as access_tables
from services.aggregator.adapters import tables as aggregator_tables
from services.common.db import make_engine
from services.common.migrate import upgrade
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
