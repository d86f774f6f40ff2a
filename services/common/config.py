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

    @property
    def access_url(self) -> str:
        return self.access_database_url or self.intake_database_url

    @property
    def uses_kafka(self) -> bool:
        return bool(self.kafka_bootstrap_servers)


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
        log_format=env.get("SCORE_LOG_FORMAT", Settings.log_format),
        access_database_url=env.get("SCORE_ACCESS_DATABASE_URL", ""),
        rate_limit_credential=env.get("SCORE_RATE_LIMIT_CREDENTIAL", Settings.rate_limit_credential),
        rate_limit_address=env.get("SCORE_RATE_LIMIT_ADDRESS", Settings.rate_limit_address),
        rate_limit_signin=env.get("SCORE_RATE_LIMIT_SIGNIN", Settings.rate_limit_signin),
        secure_cookies=env.get("SCORE_SECURE_COOKIES", "") in ("1", "true", "yes"),
        proxies=int(env.get("SCORE_PROXIES", Settings.proxies)),
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
