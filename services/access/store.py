"""Credentials and the audit log in the database: issue, authenticate, revoke, record, query.

Tokens follow OAuth 2 bearer usage (RFC 6750): 256 random bits, URL-safe, sent as ``Authorization: Bearer
<token>``.  Only the token's SHA-256 is stored: a token has as much entropy as a key, so a fast hash
cannot be brute-forced and needs no salt or slow KDF (as GitHub and PyPI store theirs); a copy of the
database lets no one act as anybody.  The token is shown once, when it is issued.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, text, update

from services.access.model import Principal, check_grant
from services.access.tables import audit_log, secrets_table, tokens
from services.common.config import Settings
from services.common.db import execute_on_driver, make_engine

Clock = Callable[[], datetime]

#: what a token looks like: a prefix secret scanners can recognise, then 43 URL-safe characters (256 bits)
TOKEN_PREFIX = "score_"


def utcnow() -> datetime:
    return datetime.now(UTC)


def stamp(at: datetime) -> str:
    """ISO 8601 in UTC with microseconds, fixed width, so that text order is time order."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TokenInfo:
    """A credential as listed: everything but the token, which is not kept."""

    id: str
    name: str
    kind: str
    roles: tuple[str, ...]
    districts: tuple[str, ...]
    campaign: str | None
    created_at: str
    expires_at: str
    revoked_at: str | None
    created_by: str

    def state(self, now: str) -> str:
        if self.revoked_at:
            return "revoked"
        return "expired" if self.expires_at <= now else "active"


@dataclass(frozen=True)
class Issued:
    token: str  # shown once; only its hash is stored
    info: TokenInfo


class AccessStore:
    def __init__(self, engine: Engine, clock: Clock = utcnow, reader: Engine | None = None) -> None:
        self.engine = engine
        self.clock = clock
        #: every request authenticates: on SQLite its reads take no write lock (a plain BEGIN under WAL)
        self.reader = reader or engine

    # -- credentials -----------------------------------------------------------------------------------

    def issue(
        self,
        name: str,
        roles: Iterable[str],
        scope: Iterable[str] = (),
        *,
        kind: str = "api",
        expires_in: timedelta = timedelta(days=90),
        campaign: str | None = None,
        created_by: str = "cli",
    ) -> Issued:
        """A new credential; the token is in the answer and nowhere else.  Audited as ``token.create``."""
        roles, scope = tuple(dict.fromkeys(roles)), tuple(dict.fromkeys(scope))
        problems = check_grant(name, kind, roles, scope)
        if expires_in <= timedelta(0):
            problems.append("the expiry must lie in the future")
        if problems:
            raise ValueError("; ".join(problems))
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        row = {
            "id": "tok_" + secrets.token_hex(8),
            "name": name,
            "kind": kind,
            "roles": ",".join(roles),
            "districts": ",".join(scope),
            "campaign": campaign,
            "token_hash": digest(token),
            "created_at": stamp(now),
            "expires_at": stamp(now + expires_in),
            "revoked_at": None,
            "created_by": created_by,
        }
        with self.engine.begin() as conn:
            conn.execute(insert(tokens).values(**row))
            self.record(
                actor=created_by,
                action="token.create",
                target=row["id"],
                detail={"name": name, "kind": kind, "roles": list(roles), "districts": list(scope)},
                conn=conn,
            )
        return Issued(token=token, info=_info(row))

    def revoke(self, token_id: str, by: str = "cli") -> bool:
        """Revoke a credential at once; False when there is no such (unrevoked) credential."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(tokens)
                .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
                .values(revoked_at=stamp(self.clock()))
            ).rowcount
            if done:
                self.record(actor=by, action="token.revoke", target=token_id, conn=conn)
        return bool(done)

    def tokens(self) -> list[TokenInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(tokens).order_by(tokens.c.created_at, tokens.c.id)).mappings()
            return [_info(dict(r)) for r in rows]

    def has_tokens(self) -> bool:
        with self.engine.connect() as conn:
            return bool(conn.execute(select(func.count()).select_from(tokens)).scalar_one())

    def authenticate(self, token: str) -> tuple[Principal | None, str]:
        """The principal a presented token stands for, or None and why: unknown, expired or revoked."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None, "unknown"
        return self._principal(self._token_row("token_hash", digest(token)))

    def principal(self, token_id: str) -> tuple[Principal | None, str]:
        """The principal behind a credential id (a signed session cookie carries the id, not the token)."""
        return self._principal(self._token_row("id", token_id))

    def _token_row(self, key: str, value: str) -> Mapping[str, Any] | None:
        """The credential whose ``key`` (a unique column) is ``value``.  Read on every request: on PostgreSQL
        one SELECT in autocommit past SQLAlchemy's execution (``execute_on_driver``; through SQLAlchemy, with
        the pool's isolation-level switch, it was ~0.46 ms of CPU, a third of a bare request's)."""
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                rows = execute_on_driver(conn, _TOKEN_BY[key], {"value": value}, autocommit=True)
            return dict(zip(_TOKEN_COLUMNS, rows[0], strict=True)) if rows else None
        with self.reader.connect() as conn:
            row = conn.execute(select(tokens).where(tokens.c[key] == value)).mappings().first()
            return dict(row) if row is not None else None

    def _principal(self, row: Any) -> tuple[Principal | None, str]:
        if row is None:
            return None, "unknown"
        if row["revoked_at"]:
            return None, "revoked"
        if row["expires_at"] <= stamp(self.clock()):
            return None, "expired"
        return (
            Principal(
                token_id=row["id"],
                name=row["name"],
                kind=row["kind"],
                roles=frozenset(r for r in row["roles"].split(",") if r),
                districts=tuple(d for d in row["districts"].split(",") if d),
            ),
            "ok",
        )

    def session_secret(self) -> str:
        with self.reader.connect() as conn:
            value = conn.execute(
                select(secrets_table.c.value).where(secrets_table.c.name == "session")
            ).scalar()
        if not value:
            raise RuntimeError("the access tables have no session secret: run `score migrate`")
        return str(value)

    # -- audit log -------------------------------------------------------------------------------------

    def record(
        self,
        actor: Principal | str,
        action: str,
        target: str | None = None,
        district: str | None = None,
        detail: dict[str, Any] | None = None,
        address: str | None = None,
        request_id: str | None = None,
        *,
        conn: Connection | None = None,
    ) -> None:
        """Append one entry to the audit log: in ``conn``'s transaction when given (the entry then stands or
        falls with the change it records), else in a transaction of its own (:meth:`record_many`)."""
        rows = self.audit_rows(actor, [(action, target, district, detail)], address, request_id)
        self.record_many(rows, conn=conn)

    def record_many(self, rows: list[dict[str, Any]], *, conn: Connection | None = None) -> None:
        """Append audit-log rows (:meth:`audit_rows`) in one multi-row statement: a batch of submissions is
        audited item by item without a transaction and a round trip per item."""
        if not rows:
            return
        if conn is None and self.engine.dialect.name == "postgresql":
            # the entries go in one statement below, atomic on its own: autocommit saves the BEGIN and the
            # COMMIT round trips (two of a single submission's nine)
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as own:
                self.record_many(rows, conn=own)
            return
        if conn is None:
            with self.engine.begin() as own:
                self.record_many(rows, conn=own)
            return
        if conn.dialect.name == "postgresql":
            # one statement with one parameter (the rows as a JSON array), whatever their number:
            # ``.values(rows)`` compiled a new statement for every batch (30 ms for 50 rows), an executemany
            # sent one statement per row
            conn.execute(_INSERT_AUDIT_ROWS, {"rows": json.dumps(rows, ensure_ascii=False)})
        else:
            conn.execute(insert(audit_log), rows)

    def audit_rows(
        self,
        actor: Principal | str,
        entries: Sequence[tuple[str, str | None, str | None, dict[str, Any] | None]],
        address: str | None = None,
        request_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """The audit_log rows (every column but ``id``, as text or None) :meth:`record_many` writes: for a
        writer that puts them into a statement of its own (the intake stores a submission and its entry in
        one statement, :data:`AUDIT_COLUMNS`)."""
        name, token_id = (actor.name, actor.token_id) if isinstance(actor, Principal) else (actor, None)
        at = stamp(self.clock())
        return [
            {
                "at": at,
                "actor": name[:64],
                "token_id": token_id,
                "action": action,
                "target": (target or None) and target[:200],
                "district": district,
                "address": (address or None) and address[:64],
                "request_id": request_id,
                "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else None,
            }
            for action, target, district, detail in entries
        ]

    def audit(
        self,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """Audit entries, newest first; ``since`` inclusive, ``until`` exclusive; ``before_id`` pages on."""
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if actor:
            query = query.where(audit_log.c.actor == actor)
        if action:
            query = query.where(audit_log.c.action == action)
        if since:
            query = query.where(audit_log.c.at >= stamp(since))
        if until:
            query = query.where(audit_log.c.at < stamp(until))
        if before_id is not None:
            query = query.where(audit_log.c.id < before_id)
        with self.engine.connect() as conn:
            return [
                {**dict(r), "detail": json.loads(r["detail"]) if r["detail"] else None}
                for r in conn.execute(query).mappings()
            ]


#: the columns of :meth:`AccessStore.audit_rows`, in the order the statements name them
AUDIT_COLUMNS = _AUDIT_COLUMNS = (
    "at",
    "actor",
    "token_id",
    "action",
    "target",
    "district",
    "address",
    "request_id",
    "detail",
)
#: PostgreSQL: audit entries (every column text) from one JSON array, their ids in the array's order
_INSERT_AUDIT_ROWS = text(
    f"INSERT INTO audit_log ({', '.join(_AUDIT_COLUMNS)}) SELECT {', '.join(_AUDIT_COLUMNS)} "
    "FROM ROWS FROM (json_to_recordset(CAST(:rows AS json)) "
    f"AS ({', '.join(c + ' text' for c in _AUDIT_COLUMNS)})) WITH ORDINALITY "
    f"AS r({', '.join(_AUDIT_COLUMNS)}, n) ORDER BY n"
)


#: a credential's columns, and psycopg's SELECT of the one whose ``key`` is ``%(value)s``
_TOKEN_COLUMNS = tuple(c.name for c in tokens.c)
_TOKEN_BY = {
    key: f"SELECT {', '.join(_TOKEN_COLUMNS)} FROM {tokens.name} WHERE {key} = %(value)s"
    for key in ("token_hash", "id")
}


def _info(row: dict[str, Any]) -> TokenInfo:
    return TokenInfo(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        roles=tuple(r for r in row["roles"].split(",") if r),
        districts=tuple(d for d in row["districts"].split(",") if d),
        campaign=row["campaign"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        created_by=row["created_by"],
    )


def bootstrap(settings: Settings, engine: Engine | None = None, clock: Clock = utcnow) -> AccessStore:
    url = settings.access_url
    reader = make_engine(url, read_only=True) if engine is None and url.startswith("sqlite") else None
    return AccessStore(engine or make_engine(url), clock, reader=reader)
