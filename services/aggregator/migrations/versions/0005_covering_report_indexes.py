"""District reports read the hazard ledger from its indexes alone (PostgreSQL ``INCLUDE`` columns).

A report counts the hazards found in a division and period and looks each one up in its rectifications; with
the columns it reads carried in the two indexes it walks anyway, PostgreSQL answers from the indexes without
visiting the tables (an index-only scan), which is most of a report's time at a million submissions.  Same
names and key columns as before, so nothing that used them changes; other databases get the plain indexes.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

HAZARDS_INCLUDE = ["counts", "industry", "deadline", "hazard_id"]
RECTIFICATIONS_INCLUDE = ["rectified_on", "on_time"]


def upgrade() -> None:
    op.drop_index("ix_hazards_district_found", table_name="hazards")
    op.create_index(
        "ix_hazards_district_found",
        "hazards",
        ["district", "found_on"],
        postgresql_include=HAZARDS_INCLUDE,
    )
    op.drop_index("ix_hazard_rectifications_hazard", table_name="hazard_rectifications")
    op.create_index(
        "ix_hazard_rectifications_hazard",
        "hazard_rectifications",
        ["hazard_id"],
        postgresql_include=RECTIFICATIONS_INCLUDE,
    )


def downgrade() -> None:
    op.drop_index("ix_hazard_rectifications_hazard", table_name="hazard_rectifications")
    op.create_index("ix_hazard_rectifications_hazard", "hazard_rectifications", ["hazard_id"])
    op.drop_index("ix_hazards_district_found", table_name="hazards")
    op.create_index("ix_hazards_district_found", "hazards", ["district", "found_on"])
