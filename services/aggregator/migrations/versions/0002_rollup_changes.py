"""Rollups changed since last published to the compacted rollup topic."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.common import columns

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "rollup_changes",
        columns.district(primary_key=True),
        sa.Column("period_kind", sa.String(10), primary_key=True),
        sa.Column("period_key", sa.String(12), primary_key=True),
        columns.day("period_start", nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rollup_changes")
