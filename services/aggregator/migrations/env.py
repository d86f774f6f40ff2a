"""Alembic environment of the aggregator service: its tables, run by services.common.migrate."""

from __future__ import annotations

from services.aggregator.adapters.tables import metadata
from services.common.migrate import run_environment

run_environment("aggregator", metadata)
