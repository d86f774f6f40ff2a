"""Every setting, read from the environment in one place, with its type and default.

With nothing set, the whole system runs embedded: SQLite files under ``var/`` and the built-in SQL event log
(the intake's outbox table read in order).  Setting ``SCORE_KAFKA_BOOTSTRAP_SERVERS`` switches the event log
to Apache Kafka; ``SCORE_INTAKE_DATABASE_URL`` / ``SCORE_AGGREGATOR_DATABASE_URL`` switch to PostgreSQL
(``postgresql+psycopg://user@host:port/db``).  No code changes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: what kafka-python and the broker call the ways a client may connect
KAFKA_SECURITY_PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL")
KAFKA_SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


class ConfigError(Exception):
    """A setting that cannot work, named with the environment variable that sets it."""


@dataclass(frozen=True)
class Settings:
    #: the intake's database: submissions and the outbox
    intake_database_url: str = ""
    #: the aggregator's own database: facts, rollups, consumer positions
    aggregator_database_url: str = ""
    #: empty = embedded SQL event log; "host:port[,host:port]" = Apache Kafka
    kafka_bootstrap_servers: str = ""
    #: how Kafka clients connect: PLAINTEXT (no login), SASL_PLAINTEXT (login on loopback or a trusted net),
    #: SASL_SSL (login over TLS)
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    #: the Kafka user this process logs in as (each service its own: relay, aggregator)
    kafka_username: str = ""
    #: never printed: kept out of repr so a logged Settings does not leak it
    kafka_password: str = field(default="", repr=False)
    #: CA certificate (PEM) that signed the broker's certificate, for SASL_SSL / SSL
    kafka_ssl_cafile: str = ""
    #: the database whose outbox table is the SQL event log (defaults to the intake database)
    event_log_url: str = ""
    topic: str = "score.submissions.v1"
    dead_letter_topic: str = "score.submissions.dlq.v1"
    rollup_topic: str = "score.rollups.v1"
    topic_partitions: int = 3
    #: retention of the submissions topic; -1 keeps events for ever so any consumer can rebuild from them
    topic_retention_ms: int = -1
    consumer_group: str = "score-aggregator"
    relay_batch_size: int = 500
    relay_idle_seconds: float = 0.2
    #: upper bound on submissions in one batch request
    batch_limit: int = 100
    #: largest accepted request body, bytes
    max_request_bytes: int = 1_000_000
    #: largest evidence photo (``PUT /api/v1/attachments/<id>``), bytes: 5 MiB; phones resize before sending
    attachment_max_bytes: int = 5 * 1024 * 1024
    #: the image types an attachment may be, comma-separated: only types whose bytes the intake can recognise
    attachment_types: str = "image/jpeg,image/png,image/webp"
    #: how far into the future a client clock may be and still be believed
    clock_skew_seconds: int = 600
    log_format: str = "console"  # console | json
    #: credentials and the audit log (services/access); empty = the intake's database
    access_database_url: str = ""
    #: rate limits (Flask-Limiter syntax, e.g. "600 per minute"; empty = none), counted in memory per process:
    #: per credential (or per address for requests without one), per client address, and sign-in attempts
    rate_limit_credential: str = "1200 per minute"
    rate_limit_address: str = "3000 per minute"
    rate_limit_signin: str = "10 per minute"
    #: mark the dashboard's session cookie Secure (set it to 1 behind HTTPS, as production is)
    secure_cookies: bool = False
    #: how many proxies in front of the services set X-Forwarded-For (0: trust none, use the peer address)
    proxies: int = 0

    #: copies of each topic partition; -1 = the broker's default.replication.factor (1 on a single node)
    topic_replication_factor: int = -1
    #: replicas that must have a record before acks=all succeeds; 0 = the broker's min.insync.replicas
    topic_min_insync_replicas: int = 0
    #: SQLAlchemy connection pool per process (per gunicorn worker): kept connections, and extra ones
    db_pool_size: int = 15
    db_max_overflow: int = 0
    #: where gunicorn workers share their Prometheus metrics (prometheus-client's multiprocess mode)
    prometheus_multiproc_dir: str = ""
    #: the port `score relay` / `score aggregator consume` serve their counters on (0: not served)
    metrics_port: int = 0
    #: where `score reports deliver` delivers report packages: a folder (path or file:// URL) or an http(s) URL
    delivery_to: str = ""
    #: the districts packaged (comma-separated GB/T 2260 codes); empty = every active division of the table
    delivery_districts: str = ""
    #: the periods packaged by default (comma-separated: month, quarter, year), each its last complete one
    delivery_periods: str = "month"
    #: attempts per package and run before its delivery is recorded as failed (the next run tries again)
    delivery_attempts: int = 5
    #: a file holding the bearer token the HTTP destination expects (never printed)
    delivery_token_file: str = ""

    @property
    def access_url(self) -> str:
        return self.access_database_url or self.intake_database_url

    @property
    def allowed_attachment_types(self) -> tuple[str, ...]:
        """``SCORE_ATTACHMENT_TYPES`` as a tuple (the intake checks them at start: ``intake.bootstrap``)."""
        return tuple(t.strip() for t in self.attachment_types.split(",") if t.strip())

    @property
    def uses_kafka(self) -> bool:
        return bool(self.kafka_bootstrap_servers)

    def pool_kwargs(self, url: str) -> dict[str, Any]:
        """``create_engine`` pool arguments for a PostgreSQL ``url`` (SQLite keeps SQLAlchemy's own pool)."""
        if url.startswith("sqlite"):
            return {}
        return {"pool_size": self.db_pool_size, "max_overflow": self.db_max_overflow}


@dataclass(frozen=True)
class Variable:
    """One environment variable: what ``from_env`` reads, documented where it is read.

    It sets the ``Settings`` field of its name (``SCORE_LOG_FORMAT``: ``log_format``), whose default is then the
    one shown (so the table cannot disagree with the code); ``default`` is the text shown instead when the
    default is derived.  ``settings=False``: no field holds it as it is (read or derived elsewhere).
    """

    name: str
    meaning: str
    default: str | None = None
    settings: bool = True

    @property
    def field(self) -> str | None:
        return self.name.removeprefix("SCORE_").lower() if self.settings else None

    def default_text(self) -> str:
        if self.default is not None:
            return self.default
        if self.field is None:
            return "*(empty)*"
        value = Settings.__dataclass_fields__[self.field].default
        return "*(empty)*" if value == "" else f"`{value}`"


#: every variable ``from_env`` reads, in the order the README's table lists them
VARIABLES: tuple[Variable, ...] = (
    Variable("SCORE_VAR_DIR", "where the embedded SQLite files live", default="`var`", settings=False),
    Variable(
        "SCORE_INTAKE_DATABASE_URL",
        "the intake's database (submissions + outbox); e.g. `postgresql+psycopg://score@127.0.0.1:5432/score`",
        default="`sqlite:///var/intake.db`",
    ),
    Variable(
        "SCORE_AGGREGATOR_DATABASE_URL",
        "the aggregator's own database (facts, rollups, positions)",
        default="`sqlite:///var/aggregator.db`",
    ),
    Variable(
        "SCORE_EVENT_LOG_URL",
        "where the SQL event log (the outbox) is read from on the embedded default",
        default="the intake database",
    ),
    Variable(
        "SCORE_DB_POOL_SIZE",
        "PostgreSQL connections a process (a gunicorn worker) may keep open, opened as needed: one per gunicorn "
        "thread less one",
    ),
    Variable(
        "SCORE_DB_MAX_OVERFLOW",
        "extra connections above the pool under a burst; each is closed when returned, so a busy process "
        "churns server processes: keep it `0` and size the pool",
    ),
    Variable(
        "SCORE_KAFKA_BOOTSTRAP_SERVERS",
        "empty: the built-in SQL event log (the outbox read in order); `host:port[,host:port]`: Apache Kafka "
        "through the relay (name several brokers of a cluster: any one answering is enough to start)",
    ),
    Variable(
        "SCORE_KAFKA_USERNAME",
        "the Kafka user this process logs in as (each service its own: `relay`, `aggregator`; `score migrate` "
        "needs the admin, which creates topics)",
    ),
    Variable(
        "SCORE_KAFKA_PASSWORD_FILE",
        "a file holding that user's password (one line; preferred)",
        default="*(empty)*",
        settings=False,
    ),
    Variable(
        "SCORE_KAFKA_PASSWORD",
        "the password itself (not with `SCORE_KAFKA_PASSWORD_FILE`)",
        default="*(empty)*",
        settings=False,
    ),
    Variable(
        "SCORE_KAFKA_SECURITY_PROTOCOL",
        "`PLAINTEXT`, `SASL_PLAINTEXT`, `SASL_SSL` (with `SCORE_KAFKA_SSL_CAFILE`) or `SSL`; a broker across "
        "a network needs `SASL_SSL`",
        default="`SASL_PLAINTEXT` with a user, else `PLAINTEXT`",
    ),
    Variable(
        "SCORE_KAFKA_SASL_MECHANISM",
        "also `SCRAM-SHA-256`, `PLAIN`; a refused login ends `score` commands with one line naming the user "
        "and broker",
    ),
    Variable("SCORE_KAFKA_SSL_CAFILE", "the CA (PEM) that signed the broker's certificate"),
    Variable("SCORE_TOPIC", "the submissions topic"),
    Variable("SCORE_DEAD_LETTER_TOPIC", "where the aggregator copies records it cannot apply"),
    Variable("SCORE_ROLLUP_TOPIC", "the compacted topic of changed district reports"),
    Variable(
        "SCORE_TOPIC_PARTITIONS",
        "partitions of the topics created by `score migrate` (the most aggregator consumers that get work)",
    ),
    Variable(
        "SCORE_TOPIC_REPLICATION_FACTOR",
        "copies of each partition when `score migrate` creates the topics; `-1`: the broker's "
        "`default.replication.factor`. A cluster: `3`",
    ),
    Variable(
        "SCORE_TOPIC_MIN_INSYNC_REPLICAS",
        "`min.insync.replicas` of the created topics (an `acks=all` write needs that many copies); `0`: the "
        "broker's setting. A cluster: `2` (one broker may be down, no acknowledged record is on one disk only)",
    ),
    Variable(
        "SCORE_TOPIC_RETENTION_MS",
        "retention of the submissions topic (`-1`: for ever, so consumers can rebuild)",
    ),
    Variable("SCORE_CONSUMER_GROUP", "the aggregator's consumer group"),
    Variable("SCORE_RELAY_BATCH_SIZE", "most outbox rows the relay publishes per transaction"),
    Variable("SCORE_BATCH_LIMIT", "most submissions in one batch request"),
    Variable("SCORE_MAX_REQUEST_BYTES", "larger request bodies get 413"),
    Variable(
        "SCORE_ATTACHMENT_MAX_BYTES",
        "larger evidence photos (`PUT /api/v1/attachments/<id>`) get 413 (phones resize before sending)",
    ),
    Variable(
        "SCORE_ATTACHMENT_TYPES",
        "the image types a photo may be, comma-separated; a subset of `image/jpeg,image/png,image/webp` (the "
        "types whose bytes the intake recognises); another type, or bytes that are not the type sent, get 415",
    ),
    Variable("SCORE_CLOCK_SKEW_SECONDS", "how far ahead a device clock may be"),
    Variable("SCORE_LOG_FORMAT", "`console` or `json` (JSON lines)"),
    Variable(
        "SCORE_ACCESS_DATABASE_URL",
        "credentials, the audit log and the dashboard's session key (`services/access`); both APIs must reach it",
        default="the intake database",
        settings=False,
    ),
    Variable(
        "SCORE_RATE_LIMIT_CREDENTIAL",
        "requests per credential (per address without one), Flask-Limiter syntax; empty: none. Counted in "
        "each process's memory",
    ),
    Variable("SCORE_RATE_LIMIT_ADDRESS", "requests per client address; empty: none"),
    Variable("SCORE_RATE_LIMIT_SIGNIN", "dashboard sign-in attempts per address"),
    Variable(
        "SCORE_SECURE_COOKIES",
        "`1` behind HTTPS (production): the session cookie is Secure and HSTS is sent",
        default="*(off)*",
        settings=False,
    ),
    Variable(
        "SCORE_PROXIES",
        "how many proxies in front set `X-Forwarded-For` (`0`: trust none, use the peer address)",
    ),
    Variable(
        "SCORE_METRICS_PORT",
        "`score relay` and `score aggregator consume` serve their own counters (Prometheus text) on this port; "
        "`0`: not served. Per process (the systemd units set it), not in the shared environment file",
    ),
    Variable(
        "SCORE_DELIVERY_TO",
        "where `score reports deliver` delivers report packages: a folder (a path or `file:///…`; each "
        "package appears whole, by rename) or an `https://…` endpoint (POST with `Idempotency-Key`); empty: "
        "`--to` is required",
    ),
    Variable(
        "SCORE_DELIVERY_DISTRICTS",
        "the districts packaged, comma-separated GB/T 2260 codes; empty: every active division (the province, "
        "Hangzhou, Jinhua and their counties)",
    ),
    Variable(
        "SCORE_DELIVERY_PERIODS",
        "the periods packaged when `--period` is not given, comma-separated (`month`, `quarter`, `year`): each "
        "its last complete one",
    ),
    Variable(
        "SCORE_DELIVERY_ATTEMPTS",
        "attempts per package and run (waiting 1 s, doubling to 30 s, or the receiver's `Retry-After`) before "
        "the delivery is recorded as failed; the next run tries it again",
    ),
    Variable(
        "SCORE_DELIVERY_TOKEN_FILE",
        "a file holding the bearer token the HTTP destination expects (one line)",
    ),
    Variable(
        "PROMETHEUS_MULTIPROC_DIR",
        "under gunicorn, where the workers share their request metrics (prometheus-client's multiprocess "
        "mode); one directory per gunicorn, emptied at its start. Unset: gunicorn makes a new one per start",
    ),
)


def markdown_table() -> str:
    """The README's configuration table, generated from ``VARIABLES`` (``score config --markdown``)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{v.name}` | {v.default_text()} | {v.meaning} |" for v in VARIABLES]
    return "\n".join(rows) + "\n"


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    var = Path(env.get("SCORE_VAR_DIR", "var"))
    intake_url = env.get("SCORE_INTAKE_DATABASE_URL") or f"sqlite:///{var / 'intake.db'}"
    username = env.get("SCORE_KAFKA_USERNAME", "")
    protocol = env.get("SCORE_KAFKA_SECURITY_PROTOCOL") or ("SASL_PLAINTEXT" if username else "PLAINTEXT")
    if protocol not in KAFKA_SECURITY_PROTOCOLS:
        raise ConfigError(
            f"SCORE_KAFKA_SECURITY_PROTOCOL={protocol!r}: one of {', '.join(KAFKA_SECURITY_PROTOCOLS)}"
        )
    mechanism = env.get("SCORE_KAFKA_SASL_MECHANISM") or Settings.kafka_sasl_mechanism
    if mechanism not in KAFKA_SASL_MECHANISMS:
        raise ConfigError(
            f"SCORE_KAFKA_SASL_MECHANISM={mechanism!r}: one of {', '.join(KAFKA_SASL_MECHANISMS)}"
        )
    if protocol.startswith("SASL_") and not username:
        raise ConfigError(f"SCORE_KAFKA_SECURITY_PROTOCOL={protocol} needs SCORE_KAFKA_USERNAME")
    return Settings(
        intake_database_url=intake_url,
        aggregator_database_url=env.get("SCORE_AGGREGATOR_DATABASE_URL")
        or f"sqlite:///{var / 'aggregator.db'}",
        kafka_bootstrap_servers=env.get("SCORE_KAFKA_BOOTSTRAP_SERVERS", ""),
        kafka_security_protocol=protocol,
        kafka_sasl_mechanism=mechanism,
        kafka_username=username,
        kafka_password=_kafka_password(env),
        kafka_ssl_cafile=env.get("SCORE_KAFKA_SSL_CAFILE", ""),
        event_log_url=env.get("SCORE_EVENT_LOG_URL") or intake_url,
        topic=env.get("SCORE_TOPIC", Settings.topic),
        dead_letter_topic=env.get("SCORE_DEAD_LETTER_TOPIC", Settings.dead_letter_topic),
        rollup_topic=env.get("SCORE_ROLLUP_TOPIC", Settings.rollup_topic),
        topic_partitions=int(env.get("SCORE_TOPIC_PARTITIONS", Settings.topic_partitions)),
        topic_retention_ms=int(env.get("SCORE_TOPIC_RETENTION_MS", Settings.topic_retention_ms)),
        consumer_group=env.get("SCORE_CONSUMER_GROUP", Settings.consumer_group),
        relay_batch_size=int(env.get("SCORE_RELAY_BATCH_SIZE", Settings.relay_batch_size)),
        batch_limit=int(env.get("SCORE_BATCH_LIMIT", Settings.batch_limit)),
        max_request_bytes=int(env.get("SCORE_MAX_REQUEST_BYTES", Settings.max_request_bytes)),
        clock_skew_seconds=int(env.get("SCORE_CLOCK_SKEW_SECONDS", Settings.clock_skew_seconds)),
        attachment_max_bytes=int(env.get("SCORE_ATTACHMENT_MAX_BYTES", Settings.attachment_max_bytes)),
        attachment_types=env.get("SCORE_ATTACHMENT_TYPES", Settings.attachment_types),
        log_format=env.get("SCORE_LOG_FORMAT", Settings.log_format),
        access_database_url=env.get("SCORE_ACCESS_DATABASE_URL", ""),
        rate_limit_credential=env.get("SCORE_RATE_LIMIT_CREDENTIAL", Settings.rate_limit_credential),
        rate_limit_address=env.get("SCORE_RATE_LIMIT_ADDRESS", Settings.rate_limit_address),
        rate_limit_signin=env.get("SCORE_RATE_LIMIT_SIGNIN", Settings.rate_limit_signin),
        secure_cookies=env.get("SCORE_SECURE_COOKIES", "") in ("1", "true", "yes"),
        proxies=int(env.get("SCORE_PROXIES", Settings.proxies)),
        topic_replication_factor=int(
            env.get("SCORE_TOPIC_REPLICATION_FACTOR", Settings.topic_replication_factor)
        ),
        topic_min_insync_replicas=int(
            env.get("SCORE_TOPIC_MIN_INSYNC_REPLICAS", Settings.topic_min_insync_replicas)
        ),
        db_pool_size=int(env.get("SCORE_DB_POOL_SIZE", Settings.db_pool_size)),
        db_max_overflow=int(env.get("SCORE_DB_MAX_OVERFLOW", Settings.db_max_overflow)),
        prometheus_multiproc_dir=env.get("PROMETHEUS_MULTIPROC_DIR", ""),
        metrics_port=int(env.get("SCORE_METRICS_PORT", Settings.metrics_port)),
        delivery_to=env.get("SCORE_DELIVERY_TO", ""),
        delivery_districts=env.get("SCORE_DELIVERY_DISTRICTS", ""),
        delivery_periods=env.get("SCORE_DELIVERY_PERIODS", Settings.delivery_periods),
        delivery_attempts=int(env.get("SCORE_DELIVERY_ATTEMPTS", Settings.delivery_attempts)),
        delivery_token_file=env.get("SCORE_DELIVERY_TOKEN_FILE", ""),
    )


def _kafka_password(env: Mapping[str, str]) -> str:
    """``SCORE_KAFKA_PASSWORD_FILE`` (preferred: a file only the service user reads, as systemd's
    ``LoadCredential=`` gives) or ``SCORE_KAFKA_PASSWORD``; one trailing newline is not part of it."""
    path = env.get("SCORE_KAFKA_PASSWORD_FILE", "")
    if path and env.get("SCORE_KAFKA_PASSWORD"):
        raise ConfigError("set SCORE_KAFKA_PASSWORD or SCORE_KAFKA_PASSWORD_FILE, not both")
    if not path:
        return env.get("SCORE_KAFKA_PASSWORD", "")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"SCORE_KAFKA_PASSWORD_FILE={path}: cannot read it ({exc.strerror})") from exc
    return text.removesuffix("\n").removesuffix("\r")
