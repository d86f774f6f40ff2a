"""Alembic environment of the access module: its tables, run by services.common.migrate."""

from __future__ import annotations

from services.access.tables import metadata
from services.common.migrate import run_environment

run_environment("access", metadata)
