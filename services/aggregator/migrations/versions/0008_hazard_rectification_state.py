"""Each hazard carries its rectification state, and district reports count hazards from one index.

``hazards.rectified_on`` (the day of the hazard's first counting rectification; null: none) and
``hazards.rectified_on_time`` (whether any of them was on time) are derived from ``hazard_rectifications`` in the
same transaction as every change to either table (``Store.refresh_hazards``; ``score aggregator verify`` checks
them).  With them, and the columns a report reads carried in ``ix_hazards_district_found`` (PostgreSQL
``INCLUDE``), a report counts rectified, rectified on time and overdue hazards in one index-only scan instead of
looking every hazard up in its rectifications (~0.8 s for the province's quarter at a million submissions).
Existing rows are filled in here.
"""

import sqlalchemy as sa
from alembic import op

from services.common import columns

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    with op.batch_alter_table("hazards") as batch:
        batch.add_column(columns.day("rectified_on", nullable=True))
        batch.add_column(
            sa.Column("rectified_on_time", sa.Boolean, nullable=False, server_default=sa.false())
        )
    op.execute(
        """
        UPDATE hazards SET
            rectified_on = (SELECT min(r.rectified_on) FROM hazard_rectifications r
                            WHERE r.hazard_id = hazards.hazard_id),
            rectified_on_time = EXISTS (SELECT 1 FROM hazard_rectifications r
                                        WHERE r.hazard_id = hazards.hazard_id AND r.on_time)
        WHERE EXISTS (SELECT 1 FROM hazard_rectifications r WHERE r.hazard_id = hazards.hazard_id)
        """
    )
    op.drop_index("ix_hazards_district_found", table_name="hazards")
    op.create_index(
        "ix_hazards_district_found",
        "hazards",
        ["district", "found_on"],
        postgresql_include=["counts", "industry", "deadline", "rectified_on", "rectified_on_time"],
    )


def downgrade() -> None:
    op.drop_index("ix_hazards_district_found", table_name="hazards")
    op.create_index("ix_hazards_district_found", "hazards", ["district", "found_on"])
    with op.batch_alter_table("hazards") as batch:
        batch.drop_column("rectified_on_time")
        batch.drop_column("rectified_on")
