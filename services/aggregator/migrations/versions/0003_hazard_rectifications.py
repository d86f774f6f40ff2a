"""Rectifications in their own table, one row each, instead of one date on the hazard."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.common import columns

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "hazard_rectifications",
        columns.uuid_text("rectification_lineage", primary_key=True),
        columns.hazard_id(nullable=False),
        sa.Column("rectified_on", sa.Date, nullable=False),
        sa.Column("on_time", sa.Boolean, nullable=False),
    )
    op.create_index("ix_hazard_rectifications_hazard", "hazard_rectifications", ["hazard_id"])
    # Rebuild the rollups after this upgrade (score aggregator rebuild): the old columns are not carried over.
    with op.batch_alter_table("hazards") as batch:
        batch.drop_column("rectification_lineage")
        batch.drop_column("rectified_on")


def downgrade() -> None:
    with op.batch_alter_table("hazards") as batch:
        batch.add_column(sa.Column("rectified_on", sa.Date, nullable=True))
        batch.add_column(columns.uuid_text("rectification_lineage", nullable=True))
    op.drop_index("ix_hazard_rectifications_hazard", table_name="hazard_rectifications")
    op.drop_table("hazard_rectifications")
