"""A review's idempotency key: the client's review_id and a hash of what that review asked for."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    # batch mode: SQLite cannot add a unique constraint in place, Alembic copies the table for it
    with op.batch_alter_table("reviews") as batch:
        batch.add_column(sa.Column("review_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("request_hash", sa.String(64), nullable=True))
        batch.create_unique_constraint("uq_reviews_review_id", ["review_id"])


def downgrade() -> None:
    with op.batch_alter_table("reviews") as batch:
        batch.drop_constraint("uq_reviews_review_id", type_="unique")
        batch.drop_column("request_hash")
        batch.drop_column("review_id")
