"""Report packages delivered by ``score reports deliver``: status, attempts, checksum, destination, payload."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "report_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("period_kind", sa.String(10), nullable=False),
        sa.Column("period_key", sa.String(12), nullable=False),
        sa.Column("destination", sa.String(500), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("log_position", sa.Text, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("delivered_at", sa.String(40), nullable=True),
        sa.UniqueConstraint(
            "district",
            "period_kind",
            "period_key",
            "destination",
            "version",
            name="uq_report_deliveries_version",
        ),
    )


def downgrade() -> None:
    op.drop_table("report_deliveries")
