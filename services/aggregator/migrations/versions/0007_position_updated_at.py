"""Positions remember when they last moved, so the dashboard can say how long ago the figures were updated.

Positions stored before this revision read "not yet known" until the consumer applies its next batch.
"""

from alembic import op

from services.common import columns

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    with op.batch_alter_table("positions") as batch:
        batch.add_column(columns.instant("updated_at", nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("positions") as batch:
        batch.drop_column("updated_at")
