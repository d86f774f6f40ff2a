"""Fewer rows and index entries written per new fact: no ``versions`` row for a lineage's first version, and
no ``facts(district, day)`` index.

A lineage is named after its first version (``lineage_id`` = that version's ``submission_id``), so the row
``versions(submission_id=L, lineage_id=L)`` says nothing ``facts`` does not: ``Store.lineage_of`` finds a
version in ``versions`` or else, as a first version, by ``facts.lineage_id``.  ``versions`` keeps the versions
that replace another.  ``ix_facts_district_day`` was read by nothing (reports read the rollups and the hazard
ledger; verify and rebuild scan facts by primary key) and cost an index entry for each of the million facts
of a replay.  Profile of a 100,000-event replay: COPY into facts and versions were the two largest statements
of the apply step.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.drop_index("ix_facts_district_day", table_name="facts")
    op.execute("DELETE FROM versions WHERE submission_id = lineage_id")


def downgrade() -> None:
    # every stored lineage has its first version: the row this revision stopped writing
    op.execute(
        sa.text(
            "INSERT INTO versions (submission_id, lineage_id) SELECT lineage_id, lineage_id FROM facts "
            "WHERE lineage_id NOT IN (SELECT submission_id FROM versions)"
        )
    )
    op.create_index("ix_facts_district_day", "facts", ["district", "day"])
