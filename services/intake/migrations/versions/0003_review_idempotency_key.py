"""A review's idempotency key: the client's review_id and a hash of what that review asked for."""

from __future__ import annotations

from alembic import op

from services.common import columns

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    # batch mode: SQLite cannot add a unique constraint in place, Alembic copies the table for it
    with op.batch_alter_table("reviews") as batch:
        batch.add_column(columns.uuid_text("review_id", nullable=True))
        batch.add_column(columns.sha256_hex("request_hash", nullable=True))
        batch.create_unique_constraint("uq_reviews_review_id", ["review_id"])


def downgrade() -> None:
    with op.batch_alter_table("reviews") as batch:
        batch.drop_constraint("uq_reviews_review_id", type_="unique")
        batch.drop_column("request_hash")
        batch.drop_column("review_id")
