"""``facts.submission_id`` is unique among replacing versions only: one index entry fewer per new fact.

A lineage's first version names it (``lineage_id`` = its ``submission_id``), so for the facts of first
versions, nearly all of them, the unique index on ``submission_id`` held a second copy of the primary key:
an entry written, at a random place in a growing index, for every new fact.  In a 1,000,000-event replay the
index did not fit in the server's buffers with the others and each entry cost a page read and write.  The
partial index keeps what it guarded where it can be broken: two lineages whose current versions replaced
their first with the same submission.  (A version stored under two lineages is refused earlier, by
``versions``' primary key and the apply step, which dead-letters a reused id.)
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"

_REPLACING = sa.text("submission_id <> lineage_id")


#: SQLite keeps 0001's unique constraint unnamed: batch mode names it after PostgreSQL's so one drop serves both
_NAMES = {"uq": "%(table_name)s_%(column_0_name)s_key"}


def upgrade() -> None:
    with op.batch_alter_table("facts", naming_convention=_NAMES) as batch:
        batch.drop_constraint("facts_submission_id_key", type_="unique")
    op.create_index(
        "ux_facts_replacing_version",
        "facts",
        ["submission_id"],
        unique=True,
        postgresql_where=_REPLACING,
        sqlite_where=_REPLACING,
    )


def downgrade() -> None:
    op.drop_index("ux_facts_replacing_version", table_name="facts")
    with op.batch_alter_table("facts") as batch:
        batch.create_unique_constraint("facts_submission_id_key", ["submission_id"])
