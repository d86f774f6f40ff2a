"""Rectifications in their own table, one row each, instead of one date on the hazard."""

from __future__ import annotations

from alembic import op

from services.aggregator.adapters.tables import rectification_columns
from services.common import columns

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    # the model's own list (services/aggregator/adapters/tables.py says why a released migration may use it)
    op.create_table("hazard_rectifications", *rectification_columns())
    op.create_index("ix_hazard_rectifications_hazard", "hazard_rectifications", ["hazard_id"])
    # Rebuild the rollups after this upgrade (score aggregator rebuild): the old columns are not carried over.
    with op.batch_alter_table("hazards") as batch:
        batch.drop_column("rectification_lineage")
        batch.drop_column("rectified_on")


def downgrade() -> None:
    with op.batch_alter_table("hazards") as batch:
        batch.add_column(columns.day("rectified_on", nullable=True))
        batch.add_column(columns.uuid_text("rectification_lineage", nullable=True))
    op.drop_index("ix_hazard_rectifications_hazard", table_name="hazard_rectifications")
    op.drop_table("hazard_rectifications")
