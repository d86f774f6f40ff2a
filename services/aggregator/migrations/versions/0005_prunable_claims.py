"""Claims remember when they were made, and positions how many of their claims were pruned, and below where.

A claim made before this revision is dated by the upgrade itself (the server default): it is then younger than
it is, so a prune keeps it longer, never shorter.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    with op.batch_alter_table("processed_events") as batch:
        batch.add_column(
            sa.Column(
                "claimed_at",
                sa.DateTime(timezone=True),
                nullable=False,
                server_default=sa.text("CURRENT_TIMESTAMP"),
            )
        )
    with op.batch_alter_table("positions") as batch:
        batch.add_column(sa.Column("pruned_through", sa.BigInteger, nullable=False, server_default="-1"))
        batch.add_column(sa.Column("pruned_claims", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("positions") as batch:
        batch.drop_column("pruned_claims")
        batch.drop_column("pruned_through")
    with op.batch_alter_table("processed_events") as batch:
        batch.drop_column("claimed_at")
