"""Positions count what was done with each record; claims remember where their event was read.

Counters of positions stored before this revision start at 0: run ``score aggregator rebuild`` for counters that
cover the whole log (``score aggregator verify`` reconciles with the log either way).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("positions") as batch:
        for name in ("applied", "duplicates", "dead_letters"):
            batch.add_column(sa.Column(name, sa.BigInteger, nullable=False, server_default="0"))
    with op.batch_alter_table("processed_events") as batch:
        batch.add_column(sa.Column("partition", sa.Integer, nullable=True))
        batch.add_column(sa.Column("offset", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("processed_events") as batch:
        batch.drop_column("offset")
        batch.drop_column("partition")
    with op.batch_alter_table("positions") as batch:
        for name in ("dead_letters", "duplicates", "applied"):
            batch.drop_column(name)
