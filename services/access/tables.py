"""The access module's tables (SQLAlchemy Core).  The schema itself is made by its Alembic history."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

#: one row per credential; the token itself is never stored, only its SHA-256
tokens = Table(
    "access_tokens",
    metadata,
    Column("id", String(32), primary_key=True),  # public id, shown in lists and the audit log
    Column("name", String(64), nullable=False),  # the account it acts as
    Column("kind", String(16), nullable=False),  # api | device | link
    Column("roles", String(200), nullable=False),  # comma-separated
    Column("districts", String(2000), nullable=False),  # comma-separated GB/T 2260 codes
    Column("campaign", String(100), nullable=True),  # a public link's campaign
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", String(32), nullable=False),  # ISO 8601 UTC, fixed width: sorts as text
    Column("expires_at", String(32), nullable=False),
    Column("revoked_at", String(32), nullable=True),
    Column("created_by", String(64), nullable=False),
)

#: append-only: the database itself refuses UPDATE and DELETE (triggers, see the migration)
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("at", String(32), nullable=False),  # ISO 8601 UTC, fixed width
    Column("actor", String(64), nullable=False),  # the credential's account name, or cli:<user>
    Column("token_id", String(32), nullable=True),
    Column("action", String(40), nullable=False),
    Column("target", String(200), nullable=True),
    Column("district", String(12), nullable=True),
    Column("address", String(64), nullable=True),
    Column("request_id", String(64), nullable=True),
    Column("detail", Text, nullable=True),  # JSON
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_actor_at", "actor", "at"),
    Index("ix_audit_log_action_at", "action", "at"),
)

#: server-side secrets (the key that signs dashboard session cookies), made once by the migration
secrets_table = Table(
    "access_secrets",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", String(200), nullable=False),
)
