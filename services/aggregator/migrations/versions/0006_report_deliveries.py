"""Report packages delivered by ``score reports deliver``: status, attempts, checksum, destination, payload."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.common import columns

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "report_deliveries",
        columns.serial_id(),
        columns.district(nullable=False),
        sa.Column("period_kind", sa.String(10), nullable=False),
        sa.Column("period_key", sa.String(12), nullable=False),
        sa.Column("destination", sa.String(500), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        columns.sha256_hex("content_sha256", nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("log_position", sa.Text, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        columns.instant("created_at", nullable=False),
        columns.instant("delivered_at", nullable=True),
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
