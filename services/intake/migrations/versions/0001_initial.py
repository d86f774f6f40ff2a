"""Submissions, reviews, the outbox and the relay lease."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

_Position = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "submissions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("form", sa.String(40), nullable=False),
        sa.Column("form_version", sa.Integer, nullable=False),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("enterprise", sa.String(18), nullable=True),
        sa.Column("collector", sa.Text, nullable=False),
        sa.Column("collected_at", sa.String(40), nullable=False),
        sa.Column("received_at", sa.String(40), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("computed", sa.Text, nullable=False),
        sa.Column("replaces", sa.String(36), sa.ForeignKey("submissions.id"), nullable=True, unique=True),
        sa.Column("superseded_by", sa.String(36), nullable=True),
        sa.Column("review_status", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("review_comment", sa.Text, nullable=True),
        sa.Column("reviewer", sa.String(64), nullable=True),
        sa.Column("reviewed_at", sa.String(40), nullable=True),
    )
    op.create_index("ix_submissions_form_district", "submissions", ["form", "district"])
    op.create_index("ix_submissions_enterprise", "submissions", ["enterprise"])
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("submission_id", sa.String(36), sa.ForeignKey("submissions.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("reviewer", sa.String(64), nullable=False),
        sa.Column("reviewed_at", sa.String(40), nullable=False),
        sa.UniqueConstraint("submission_id", "seq", name="uq_reviews_submission_seq"),
    )
    op.create_table(
        "outbox",
        sa.Column("position", _Position, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(80), nullable=False, unique=True),
        sa.Column("type", sa.String(120), nullable=False),
        sa.Column("source", sa.String(120), nullable=False),
        sa.Column("subject", sa.String(120), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("time", sa.String(40), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("published_at", sa.String(40), nullable=True),
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
        sa.Column("expires_at", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("relay_lease")
    op.drop_index("ix_outbox_unpublished", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("reviews")
    op.drop_index("ix_submissions_enterprise", table_name="submissions")
    op.drop_index("ix_submissions_form_district", table_name="submissions")
    op.drop_table("submissions")
