"""Submissions, reviews, the outbox and the relay lease."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.common import columns

revision = "0001"
down_revision = None

_Position = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "submissions",
        columns.uuid_text("id", primary_key=True),
        columns.form_name(nullable=False),
        sa.Column("form_version", sa.Integer, nullable=False),
        columns.district(nullable=False),
        columns.credit_code(nullable=True),
        sa.Column("collector", sa.Text, nullable=False),
        columns.instant("collected_at", nullable=False),
        columns.instant("received_at", nullable=False),
        columns.sha256_hex("content_hash", nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("computed", sa.Text, nullable=False),
        columns.uuid_text("replaces", sa.ForeignKey("submissions.id"), nullable=True, unique=True),
        columns.uuid_text("superseded_by", nullable=True),
        sa.Column("review_status", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("review_comment", sa.Text, nullable=True),
        sa.Column("reviewer", sa.String(64), nullable=True),
        columns.instant("reviewed_at", nullable=True),
    )
    op.create_index("ix_submissions_form_district", "submissions", ["form", "district"])
    op.create_index("ix_submissions_enterprise", "submissions", ["enterprise"])
    op.create_table(
        "reviews",
        columns.serial_id(),
        columns.uuid_text("submission_id", sa.ForeignKey("submissions.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("reviewer", sa.String(64), nullable=False),
        columns.instant("reviewed_at", nullable=False),
        sa.UniqueConstraint("submission_id", "seq", name="uq_reviews_submission_seq"),
    )
    op.create_table(
        "outbox",
        sa.Column("position", _Position, primary_key=True, autoincrement=True),
        columns.event_id(nullable=False, unique=True),
        sa.Column("type", sa.String(120), nullable=False),
        sa.Column("source", sa.String(120), nullable=False),
        sa.Column("subject", sa.String(120), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        columns.instant("time", nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        columns.instant("published_at", nullable=True),
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["position"],
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "relay_lease",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("holder", sa.String(80), nullable=False),
        columns.instant("expires_at", nullable=False),
    )


def downgrade() -> None:
    op.drop_table("relay_lease")
    op.drop_index("ix_outbox_unpublished", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("reviews")
    op.drop_index("ix_submissions_enterprise", table_name="submissions")
    op.drop_index("ix_submissions_form_district", table_name="submissions")
    op.drop_table("submissions")
