"""Facts, base rollup cells, hazard ledger, positions and dead letters."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.aggregator.adapters.tables import cell_key
from services.common import columns

revision = "0001"
down_revision = None


def upgrade() -> None:
    # the model's own list for the cell key (services/aggregator/adapters/tables.py says why a released
    # migration may use it); facts as this revision made it (0010 changed its submission_id uniqueness)
    op.create_table(
        "facts",
        columns.uuid_text("lineage_id", primary_key=True),
        columns.uuid_text("submission_id", nullable=False, unique=True),
        columns.form_name(nullable=False),
        columns.district(nullable=False),
        columns.credit_code(nullable=True),
        columns.industry(nullable=False),
        columns.day(nullable=False),
        sa.Column("review_status", sa.String(20), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_index("ix_facts_district_day", "facts", ["district", "day"])
    op.create_table(
        "versions",
        columns.uuid_text("submission_id", primary_key=True),
        columns.uuid_text("lineage_id", nullable=False),
    )
    op.create_table("daily", *cell_key(), sa.Column("value", sa.BigInteger, nullable=False))
    op.create_index("ix_daily_day", "daily", ["day"])
    op.create_table(
        "daily_members",
        *cell_key(),
        sa.Column("member", sa.String(80), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
    )
    op.create_table(
        "hazards",
        columns.hazard_id(primary_key=True),
        columns.uuid_text("inspection_lineage", nullable=False),
        columns.district(nullable=False),
        columns.industry(nullable=False),
        columns.day("found_on", nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("category", sa.String(30), nullable=False),
        columns.day("deadline", nullable=False),
        sa.Column("counts", sa.Boolean, nullable=False),
        columns.day("rectified_on", nullable=True),
        columns.uuid_text("rectification_lineage", nullable=True),
    )
    op.create_index("ix_hazards_district_found", "hazards", ["district", "found_on"])
    op.create_index("ix_hazards_inspection", "hazards", ["inspection_lineage"])
    op.create_table("processed_events", columns.event_id(primary_key=True))
    op.create_table(
        "positions",
        columns.log_name(primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("offset", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "dead_letters",
        columns.serial_id(),
        columns.log_name(nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        columns.event_id(nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("raw", sa.Text, nullable=True),
        columns.instant("received_at", nullable=False),
    )


def downgrade() -> None:
    for name in (
        "dead_letters",
        "positions",
        "processed_events",
        "hazards",
        "daily_members",
        "daily",
        "versions",
        "facts",
    ):
        op.drop_table(name)
