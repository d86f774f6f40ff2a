"""The intake's composition root: settings in, wired engine and unit-of-work factory out."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from services.common.config import ConfigError, Settings
from services.common.db import make_engine
from services.intake.domain.attachments import RECOGNISED
from services.intake.service_layer.handlers import Clock, utcnow
from services.intake.service_layer.unit_of_work import SqlUnitOfWork, UnitOfWork

#: Ping a pooled PostgreSQL connection only when it sat idle this long (seconds): a busy intake skips one
#: round trip per request, a quiet one still finds connections a database restart broke.
PING_IDLE_AFTER = 1.0


def make_intake_engine(settings: Settings) -> Engine:
    """The intake's engine; on PostgreSQL its pool is ``SCORE_DB_POOL_SIZE`` + ``SCORE_DB_MAX_OVERFLOW`` (the
    defaults keep one connection per gunicorn thread, none as overflow: SQLAlchemy closes an overflow
    connection when it is returned to a full pool, and at 5 + 10 a busy worker opened a new server process
    every few requests)."""
    url = settings.intake_database_url
    if not url.startswith("postgresql"):
        return make_engine(url)
    return make_engine(url, ping_idle_after=PING_IDLE_AFTER, **settings.pool_kwargs(url))


@dataclass
class Intake:
    settings: Settings
    engine: Engine
    clock: Clock

    def uow(self) -> UnitOfWork:
        # When the outbox itself is the event log (no Kafka), its positions must become visible in order.
        return SqlUnitOfWork(self.engine, serialize_outbox=not self.settings.uses_kafka)


def bootstrap(settings: Settings, engine: Engine | None = None, clock: Clock | None = None) -> Intake:
    unknown = [t for t in settings.allowed_attachment_types if t not in RECOGNISED]
    if unknown:
        # a type the intake cannot recognise from its bytes would let anything in under that name
        raise ConfigError(
            f"SCORE_ATTACHMENT_TYPES: {', '.join(unknown)} cannot be recognised from its bytes; "
            f"choose from {', '.join(RECOGNISED)}"
        )
    return Intake(
        settings=settings,
        engine=engine or make_intake_engine(settings),
        clock=clock or utcnow,
    )
