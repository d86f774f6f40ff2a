"""Evidence photos: the attachments (bytes in the row, with their SHA-256) and which submission names which."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.common import columns

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "attachments",
        columns.uuid_text("id", primary_key=True),
        columns.sha256_hex("sha256", nullable=False),
        sa.Column("content_type", sa.String(40), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        columns.instant("received_at", nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "submission_attachments",
        columns.uuid_text("submission_id", sa.ForeignKey("submissions.id"), nullable=False),
        columns.uuid_text("attachment_id", sa.ForeignKey("attachments.id"), nullable=False),
        sa.PrimaryKeyConstraint("submission_id", "attachment_id", name="pk_submission_attachments"),
    )
    op.create_index("ix_submission_attachments_attachment", "submission_attachments", ["attachment_id"])


def downgrade() -> None:
    op.drop_index("ix_submission_attachments_attachment", table_name="submission_attachments")
    op.drop_table("submission_attachments")
    op.drop_table("attachments")
