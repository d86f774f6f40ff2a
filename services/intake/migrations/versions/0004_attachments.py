"""Evidence photos: the attachments (bytes in the row, with their SHA-256) and which submission names which."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(40), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("received_at", sa.String(40), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "submission_attachments",
        sa.Column("submission_id", sa.String(36), sa.ForeignKey("submissions.id"), nullable=False),
        sa.Column("attachment_id", sa.String(36), sa.ForeignKey("attachments.id"), nullable=False),
        sa.PrimaryKeyConstraint("submission_id", "attachment_id", name="pk_submission_attachments"),
    )
    op.create_index("ix_submission_attachments_attachment", "submission_attachments", ["attachment_id"])


def downgrade() -> None:
    op.drop_index("ix_submission_attachments_attachment", table_name="submission_attachments")
    op.drop_table("submission_attachments")
    op.drop_table("attachments")
