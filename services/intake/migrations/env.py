"""Alembic environment of the intake service: its tables, run by services.common.migrate."""

from __future__ import annotations

from services.common.migrate import run_environment
from services.intake.adapters.tables import metadata

run_environment("intake", metadata)
