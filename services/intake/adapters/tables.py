"""The intake's tables.  The outbox table (``services.eventlog.outbox``) lives in the same database so that a
submission and its event commit together; Alembic migrations create both."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from services.eventlog import outbox as _outbox

metadata = MetaData()

submissions = Table(
    "submissions",
    metadata,
    Column(
        "id", String(36), primary_key=True
    ),  # the client's UUID: the unique constraint that makes retries safe
    Column("form", String(40), nullable=False),
    Column("form_version", Integer, nullable=False),
    Column("district", String(6), nullable=False),
    Column("enterprise", String(18), nullable=True),
    Column("collector", Text, nullable=False),
    Column("collected_at", String(40), nullable=False),
    Column("received_at", String(40), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("data", Text, nullable=False),
    Column("computed", Text, nullable=False),
    # A version can be replaced once: the unique constraint settles two corrections racing for it.
    Column("replaces", String(36), ForeignKey("submissions.id"), nullable=True, unique=True),
    Column("event_key", String(64), nullable=True),  # null on rows from before migration 0002
    # for a rectification: the hazard it closes, "<inspection's first version>:<item code>"
    Column("hazard_ref", String(80), nullable=True),
    Column("superseded_by", String(36), nullable=True),
    Column("review_status", String(20), nullable=False, server_default="pending"),
    Column("review_comment", Text, nullable=True),
    Column("reviewer", String(64), nullable=True),
    Column("reviewed_at", String(40), nullable=True),
    Index("ix_submissions_form_district", "form", "district"),
    Index("ix_submissions_enterprise", "enterprise"),
    Index("ix_submissions_hazard_ref", "hazard_ref"),
)

reviews = Table(
    "reviews",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("submission_id", String(36), ForeignKey("submissions.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("comment", Text, nullable=True),
    Column("reviewer", String(64), nullable=False),
    Column("reviewed_at", String(40), nullable=False),
    # The client's idempotency key (a UUID) and a hash of what it asked for: a retry of the same review is
    # answered from this row instead of recording it again.  Null for reviews sent without one (not
    # retry-safe) and for rows from before migration 0003; unique constraints allow many nulls.
    Column("review_id", String(36), nullable=True),
    Column("request_hash", String(64), nullable=True),
    UniqueConstraint("submission_id", "seq", name="uq_reviews_submission_seq"),
    UniqueConstraint("review_id", name="uq_reviews_review_id"),
)

# Evidence photos.  The bytes are kept in the row (bytea on PostgreSQL, a BLOB on SQLite), not as files:
# - one durable store: a photo commits in a transaction like everything else, and the submission naming it
#   can check, in its own transaction, that it is there;
# - the backups and restore drills of the intake database (deploy/README.md) carry the photos with the
#   records that name them, and no shared file system is needed between the gunicorn hosts;
# - the photos are small (resized on the phone; at most SCORE_ATTACHMENT_MAX_BYTES, 5 MiB): PostgreSQL keeps
#   such values out of line (TOAST), so reading submissions never reads photo bytes.
# The price: the database grows with the photos (about 0.3 MB each as phones send them); see deploy/README.md.
attachments = Table(
    "attachments",
    metadata,
    Column("id", String(36), primary_key=True),  # the device's UUID: a retry of the upload is recognised
    Column("sha256", String(64), nullable=False),
    Column("content_type", String(40), nullable=False),
    Column("size", Integer, nullable=False),
    Column("owner", String(64), nullable=False),  # the uploading credential's account
    Column("received_at", String(40), nullable=False),
    Column("content", LargeBinary, nullable=False),
)

# Which submission names which photo, written with the submission: who may read a photo follows the districts
# of the submissions that name it, found without reading any submission's JSON.
submission_attachments = Table(
    "submission_attachments",
    metadata,
    Column("submission_id", String(36), ForeignKey("submissions.id"), nullable=False),
    Column("attachment_id", String(36), ForeignKey("attachments.id"), nullable=False),
    PrimaryKeyConstraint("submission_id", "attachment_id", name="pk_submission_attachments"),
    Index("ix_submission_attachments_attachment", "attachment_id"),
)

# The outbox's tables, declared once in services.eventlog, are part of this database's schema.
for _table in _outbox.metadata.tables.values():
    _table.to_metadata(metadata)
