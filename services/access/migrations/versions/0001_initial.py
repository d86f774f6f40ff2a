"""Credentials, the append-only audit log and the session-signing secret."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

from services.access.tables import account, credential_id, district_list, request_id, role_list, stamp
from services.common import columns

revision = "0001"
down_revision = None

_REFUSE = "audit_log is append-only"


def upgrade() -> None:
    op.create_table(
        "access_tokens",
        credential_id("id", primary_key=True),
        account("name", nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        role_list(nullable=False),
        district_list(nullable=False),
        sa.Column("campaign", sa.String(100), nullable=True),
        columns.sha256_hex("token_hash", nullable=False, unique=True),
        stamp("created_at", nullable=False),
        stamp("expires_at", nullable=False),
        stamp("revoked_at", nullable=True),
        account("created_by", nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        stamp("at", nullable=False),
        account("actor", nullable=False),
        credential_id("token_id", nullable=True),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.String(200), nullable=True),
        sa.Column("district", sa.String(12), nullable=True),
        sa.Column("address", sa.String(64), nullable=True),
        request_id(nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_actor_at", "audit_log", ["actor", "at"])
    op.create_index("ix_audit_log_action_at", "audit_log", ["action", "at"])
    secrets_table = op.create_table(
        "access_secrets",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )
    # made here, once per database, so every process and gunicorn worker signs sessions with the same key
    op.bulk_insert(secrets_table, [{"name": "session", "value": secrets.token_urlsafe(48)}])

    # Append-only in the database itself, not only in the code: whoever holds the application's database
    # credentials still cannot edit or erase what happened.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{_REFUSE}'; END $$;
            """
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_refuse()"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER audit_log_no_change ON audit_log")
        op.execute("DROP FUNCTION audit_log_refuse()")
    op.drop_table("access_secrets")
    op.drop_table("audit_log")
    op.drop_table("access_tokens")
