"""The access module's tables (SQLAlchemy Core).  The schema itself is made by its Alembic history."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text

from services.common import columns
from services.common.columns import Kind

metadata = MetaData()

# The access module's kinds of value (its migration builds the tables with them too, so they never change:
# a wider column is a new migration).
#: a credential's public id (``Issued.id``), shown in lists and the audit log
credential_id = Kind(String(32))
#: an account name: the account a credential acts as, who issued it, who did what
account = Kind(String(64))
#: a UTC instant as ISO 8601 text to the second, fixed width: sorts as text
stamp = Kind(String(32))
#: the roles a credential holds, comma-separated
role_list = Kind(String(200), "roles")
#: the GB/T 2260 districts a credential is scoped to, comma-separated
district_list = Kind(String(2000), "districts")
#: the id of the HTTP request an action came in (``X-Request-ID``, cut to 64 characters by services.common.weblog)
request_id = Kind(String(64), "request_id")

#: one row per credential; the token itself is never stored, only its SHA-256
tokens = Table(
    "access_tokens",
    metadata,
    credential_id("id", primary_key=True),
    account("name", nullable=False),  # the account it acts as
    Column("kind", String(16), nullable=False),  # api | device | link
    role_list(nullable=False),
    district_list(nullable=False),
    Column("campaign", String(100), nullable=True),  # a public link's campaign
    columns.sha256_hex("token_hash", nullable=False, unique=True),
    stamp("created_at", nullable=False),
    stamp("expires_at", nullable=False),
    stamp("revoked_at", nullable=True),
    account("created_by", nullable=False),
)

#: append-only: the database itself refuses UPDATE and DELETE (triggers, see the migration)
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    stamp("at", nullable=False),
    account("actor", nullable=False),  # the credential's account name, or cli:<user>
    credential_id("token_id", nullable=True),
    Column("action", String(40), nullable=False),
    Column("target", String(200), nullable=True),
    Column("district", String(12), nullable=True),
    Column("address", String(64), nullable=True),
    request_id(nullable=True),
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
