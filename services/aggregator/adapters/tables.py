"""The aggregator's tables (its own database; it never reads the intake's tables)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

from services.common import columns

metadata = MetaData()

# A table whose columns no migration has changed since the one that created it is declared once, in a function
# here (fresh columns each call: a column belongs to one table), and that migration creates it from the same
# list, so the model and the migration cannot tell two stories.  A released migration may do so because the
# migrated-schema snapshots (tests/integration/test_migrations.py) pin what it builds: a later change to such
# a table is a new migration, and the old one must then spell out the columns it made, or the snapshots fail.


# The version of each submission lineage that counts now.  Its submission id is unique among the versions
# that replaced a lineage's first (a first version's is its lineage id, the primary key): one index entry
# fewer per new fact (migration 0010).  That a version is stored under one lineage only is ``versions``'
# primary key and the apply step's check (``apply._apply``: a reused id is dead-lettered).
facts = Table(
    "facts",
    metadata,
    columns.uuid_text("lineage_id", primary_key=True),
    columns.uuid_text("submission_id", nullable=False),
    columns.form_name(nullable=False),
    columns.district(nullable=False),
    columns.credit_code(nullable=True),
    columns.industry(nullable=False),
    columns.day(nullable=False),
    Column("review_status", String(20), nullable=False),
    Column("payload", Text, nullable=False),
    Index(
        "ux_facts_replacing_version",
        "submission_id",
        unique=True,
        postgresql_where=text("submission_id <> lineage_id"),
        sqlite_where=text("submission_id <> lineage_id"),
    ),
)

# Every version that replaced another -> its lineage, so a correction or review finds the fact it changes.
# A lineage's first version has no row: the lineage is named after it (``lineage_id`` = its submission id),
# so ``facts`` says where it belongs (``Store.lineage_of``); one row fewer per new submission (migration 0009).
versions = Table(
    "versions",
    metadata,
    columns.uuid_text("submission_id", primary_key=True),
    columns.uuid_text("lineage_id", nullable=False),
)


def cell_key() -> list[Column[object]]:
    """The key of a base cell, district x local day x industry x metric; migration 0001 keys ``daily`` and
    ``daily_members`` with it."""
    return [
        columns.district(primary_key=True),
        columns.day(primary_key=True),
        columns.industry(primary_key=True),
        Column("metric", String(60), primary_key=True),
    ]


# Base rollup cells: integer sums per district x local day x industry x metric.
daily = Table(
    "daily",
    metadata,
    *cell_key(),
    Column("value", BigInteger, nullable=False),
    Index("ix_daily_day", "day"),
)

# Distinct-count memberships (e.g. enterprises inspected), counted so retractions are exact.
daily_members = Table(
    "daily_members",
    metadata,
    *cell_key(),
    Column("member", String(80), primary_key=True),
    Column("count", Integer, nullable=False),
)

# Hazard ledger: one row per hazard found, for open / overdue as of any report date.
hazards = Table(
    "hazards",
    metadata,
    columns.hazard_id(primary_key=True),
    columns.uuid_text("inspection_lineage", nullable=False),
    columns.district(nullable=False),
    columns.industry(nullable=False),
    columns.day("found_on", nullable=False),
    Column("severity", String(10), nullable=False),
    Column("category", String(30), nullable=False),
    columns.day("deadline", nullable=False),
    Column("counts", Boolean, nullable=False),
    # Its rectification state, derived from hazard_rectifications in the same transaction (Store.refresh_hazards;
    # verify checks it): the day of the first counting rectification (null: none) and whether any was on time.
    # A report then counts rectified, on time and overdue from this table's index alone.
    columns.day("rectified_on", nullable=True),
    Column("rectified_on_time", Boolean, nullable=False, server_default=false()),
    # INCLUDE: the columns a district report reads, so it counts hazards from the index alone (PostgreSQL)
    Index(
        "ix_hazards_district_found",
        "district",
        "found_on",
        postgresql_include=["counts", "industry", "deadline", "rectified_on", "rectified_on_time"],
    ),
    Index("ix_hazards_inspection", "inspection_lineage"),
)


# Counting rectifications, one row each, by the hazard they close (``<inspection's first version>:<item>``).
# A hazard is rectified when its inspection counts and at least one row names it: repeated or re-approved
# rectifications cannot count it twice, and a rejected inspection's hazards leave "rectified" with "found".
def rectification_columns() -> list[Column[object]]:
    """The columns of ``hazard_rectifications``; migration 0003 creates the table with them."""
    return [
        columns.uuid_text("rectification_lineage", primary_key=True),
        columns.hazard_id(nullable=False),
        columns.day("rectified_on", nullable=False),
        Column("on_time", Boolean, nullable=False),
    ]


hazard_rectifications = Table(
    "hazard_rectifications",
    metadata,
    *rectification_columns(),
    Index("ix_hazard_rectifications_hazard", "hazard_id"),
)


def _where_read(*, nullable: bool) -> list[Column[object]]:
    """Where in the log a record was read: its partition (0 in the embedded SQL log) and offset (64-bit, as
    Kafka's)."""
    return [Column("partition", Integer, nullable=nullable), Column("offset", BigInteger, nullable=nullable)]


# Idempotence: an event id is applied once, recorded in the same transaction as its effects.
# Where it was first read (partition, offset), so verify can reconcile every record of the log with a claim,
# and when (the database's clock, UTC), so ``score aggregator prune`` can drop claims no re-send can need.
processed_events = Table(
    "processed_events",
    metadata,
    columns.event_id(primary_key=True),
    *_where_read(nullable=True),
    Column("claimed_at", DateTime(timezone=True), nullable=False, server_default=text("CURRENT_TIMESTAMP")),
)

# Where this consumer is in the log, per partition (0 for the embedded SQL log), stored with the effects, and
# what it did with every record up to there: applied + duplicates + dead_letters = the records at or before
# ``offset`` (the cheap reconciliation on /metrics).  ``offset`` only ever moves to the next record.
# ``pruned_through``: claims of records at or before it were pruned (-1: none), ``pruned_claims`` of them, so
# verify still accounts for those records exactly (``service_layer/prune.py``).
positions = Table(
    "positions",
    metadata,
    columns.log_name(primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("offset", BigInteger, nullable=False),
    Column("applied", BigInteger, nullable=False, server_default="0"),
    Column("duplicates", BigInteger, nullable=False, server_default="0"),
    Column("dead_letters", BigInteger, nullable=False, server_default="0"),
    Column("pruned_through", BigInteger, nullable=False, server_default="-1"),
    Column("pruned_claims", BigInteger, nullable=False, server_default="0"),
    # when the position last moved (UTC, ISO 8601): the dashboard's "figures updated N minutes ago"
    columns.instant("updated_at", nullable=True),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    columns.serial_id(),
    columns.log_name(nullable=False),
    *_where_read(nullable=False),
    columns.event_id(nullable=True),
    Column("reason", Text, nullable=False),
    Column("raw", Text, nullable=True),
    columns.instant("received_at", nullable=False),
)


def _district_period(*, primary_key: bool) -> list[Column[object]]:
    """A district's rollup for one period (``Period.kind``, ``Period.key``): what is published and delivered."""
    return [
        columns.district(primary_key=primary_key, nullable=False),
        Column("period_kind", String(10), primary_key=primary_key, nullable=False),
        Column("period_key", String(12), primary_key=primary_key, nullable=False),
    ]


# District x period rollups changed since last published to the compacted rollup topic (an outbox of the
# aggregator: marked in the same transaction as the change, cleared after the broker acknowledged).
rollup_changes = Table(
    "rollup_changes",
    metadata,
    *_district_period(primary_key=True),
    columns.day("period_start", nullable=False),
    Column("version", Integer, nullable=False),
)

# Report packages delivered (``score reports deliver``): one row per district x period x destination x version.
# A version is a package whose figures differ from the previous version's (late events); the payload is kept
# so that a retry sends exactly the bytes of that version, never figures re-read later.  Not wiped by a
# rebuild: it is the record of what left the system.
report_deliveries = Table(
    "report_deliveries",
    metadata,
    columns.serial_id(),
    *_district_period(primary_key=False),
    Column("destination", String(500), nullable=False),
    Column("version", Integer, nullable=False),
    columns.sha256_hex("content_sha256", nullable=False),
    Column("idempotency_key", String(64), nullable=False),
    Column("log_position", Text, nullable=False),
    Column("status", String(12), nullable=False),  # pending | delivered | failed | superseded
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("payload", LargeBinary, nullable=False),
    columns.instant("created_at", nullable=False),
    columns.instant("delivered_at", nullable=True),
    UniqueConstraint(
        "district", "period_kind", "period_key", "destination", "version", name="uq_report_deliveries_version"
    ),
)


def _widths(table: Table) -> dict[str, int]:
    return {c.name: c.type.length for c in table.columns if isinstance(c.type, String) and c.type.length}


#: The widest text each bounded column of an applied event's rows holds.  PostgreSQL refuses a longer value
#: (SQLite stores it): checked before anything is written, so such an event is dead-lettered on its own instead
#: of failing its batch for ever (``apply._fits``; the event fuzz test found it).
FACT_WIDTHS = _widths(facts)
METRIC_WIDTH = _widths(daily)["metric"]
HAZARD_WIDTHS = _widths(hazards)
