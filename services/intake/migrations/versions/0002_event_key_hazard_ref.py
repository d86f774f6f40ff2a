"""A lineage's Kafka key, fixed by its first version; the hazard a rectification closes."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.common import columns

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("event_key", sa.String(64), nullable=True))
        batch.add_column(columns.hazard_id("hazard_ref", nullable=True))
        batch.create_index("ix_submissions_hazard_ref", ["hazard_ref"])


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.drop_index("ix_submissions_hazard_ref")
        batch.drop_column("hazard_ref")
        batch.drop_column("event_key")
