"""Fixtures: the system on the embedded default and on real PostgreSQL + Kafka, started by the project.

Tests that need the real servers are parametrised ``embedded`` / ``real``.  Without the servers they skip,
except under ``CI=true``, where a missing server is an error: CI must never go green by skipping them.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.access import AccessStore
from services.access import bootstrap as access_bootstrap
from services.aggregator.bootstrap import Aggregator
from services.aggregator.bootstrap import bootstrap as agg_bootstrap
from services.aggregator.entrypoints.app import create_app as reports_app
from services.aggregator.service_layer.runner import Consumer
from services.aggregator.service_layer.verify import verify
from services.common.config import Settings
from services.common.db import make_engine
from services.common.migrate import upgrade
from services.eventlog.relay import Relay
from services.intake.bootstrap import Intake
from services.intake.bootstrap import bootstrap as intake_bootstrap
from services.intake.entrypoints.app import create_app as intake_app
from tests.builders import NOW
from tests.servers import KafkaBroker, KafkaLogin, PostgresServer, on_ci

_counter = itertools.count()


def _start_or_skip(kind: str, start: Any) -> Any:
    try:
        return start()
    except Exception as exc:
        if on_ci():
            raise RuntimeError(f"CI=true and the real {kind} could not be started: {exc}") from exc
        pytest.skip(f"no real {kind} here ({exc}); CI=true makes this an error")


def _server_dir(kind: str) -> Path:
    # Not under pytest's numbered temporary directories: a second pytest session on the same machine (a
    # developer's, or CI's beside a developer's) prunes older numbered directories, which would delete a live
    # server's data directory under it.
    return Path(tempfile.mkdtemp(prefix=f"score-test-{kind}-"))


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    where = _server_dir("kafka")
    broker: KafkaBroker = _start_or_skip("Kafka broker", lambda: KafkaBroker.from_env_or_start(where))
    yield broker
    if broker.dir is not None:
        broker.stop()
    shutil.rmtree(where, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    where = _server_dir("pg")
    server: PostgresServer = _start_or_skip("PostgreSQL", lambda: PostgresServer.from_env_or_start(where))
    yield server
    if server.dir is not None:
        server.stop()
    shutil.rmtree(where, ignore_errors=True)


def unique(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"


#: Tests send bursts (racing retries, fuzzers) far above a person's rate; the limits' own tests set theirs.
UNLIMITED: dict[str, Any] = {"rate_limit_credential": "", "rate_limit_address": ""}


def sqlite_settings(tmp_path: Path) -> Settings:
    intake = f"sqlite:///{tmp_path / 'intake.db'}"
    return Settings(
        intake_database_url=intake,
        aggregator_database_url=f"sqlite:///{tmp_path / 'aggregator.db'}",
        event_log_url=intake,
        **UNLIMITED,
    )


def real_settings(request: pytest.FixtureRequest, partitions: int = 3) -> Settings:
    pg: PostgresServer = request.getfixturevalue("postgres_server")
    kafka: KafkaBroker = request.getfixturevalue("kafka_broker")
    name = unique("t")
    intake = pg.fresh_database(f"{name}_i")
    return Settings(
        intake_database_url=intake,
        aggregator_database_url=pg.fresh_database(f"{name}_a"),
        event_log_url=intake,
        kafka_bootstrap_servers=kafka.bootstrap,
        # The admin (a super user) so that every test can create its own topics: the broker is locked all the
        # same; tests/integration/test_kafka_access.py runs the services as their least-privileged users.
        **kafka.admin.settings_fields(),
        topic=f"score.{name}.v1",
        dead_letter_topic=f"score.{name}.dlq.v1",
        rollup_topic=f"score.{name}.rollups.v1",
        topic_partitions=partitions,
        consumer_group=f"g-{name}",
        **UNLIMITED,
    )


def migrated(settings: Settings) -> Settings:
    upgrade("intake", make_engine(settings.intake_database_url))
    upgrade("aggregator", make_engine(settings.aggregator_database_url))
    upgrade("access", make_engine(settings.access_url))
    if settings.uses_kafka:
        from services.eventlog.kafka import ensure_topics

        ensure_topics(settings)
    return settings


def process_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a ``score`` subprocess these settings (its Kafka login included)."""
    login = KafkaLogin(settings.kafka_username, settings.kafka_password)
    return {
        **os.environ,
        **login.env(),
        "SCORE_INTAKE_DATABASE_URL": settings.intake_database_url,
        "SCORE_AGGREGATOR_DATABASE_URL": settings.aggregator_database_url,
        "SCORE_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "SCORE_TOPIC": settings.topic,
        "SCORE_DEAD_LETTER_TOPIC": settings.dead_letter_topic,
        "SCORE_ROLLUP_TOPIC": settings.rollup_topic,
        "SCORE_CONSUMER_GROUP": settings.consumer_group,
        "SCORE_ACCESS_DATABASE_URL": settings.access_url,
    }


#: The credential the shared fixtures act with, so tests written before access control keep their meaning:
#: it may post, read and review anywhere in Zhejiang (collector + reviewer at 330000, which covers every
#: district), read every report, and read /metrics and the audit log (admin).  Tests of the access rules
#: themselves (tests/integration/test_access*.py) issue narrower credentials.
OPERATOR_ROLES = ("collector", "reviewer", "admin")


def operator_token(access: AccessStore, name: str = "test-operator") -> str:
    return access.issue(name, OPERATOR_ROLES, ["330000"], created_by="tests").token


class AuthedClient(FlaskClient):
    """A test client that sends its app's test credential (``SCORE_TEST_TOKEN``) unless a request names its
    own ``Authorization``; clients a test makes with ``app.test_client()`` get it too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        token = self.application.config.get("SCORE_TEST_TOKEN")
        if token:
            self.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"


def authorize(app: Flask, token: str) -> Flask:
    app.config["SCORE_TEST_TOKEN"] = token
    app.test_client_class = AuthedClient
    return app


REAL = pytest.param("real", marks=[pytest.mark.kafka, pytest.mark.postgres])


@pytest.fixture(params=["embedded", REAL])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for the whole system: embedded (SQLite + SQL log) or real (PostgreSQL + Kafka)."""
    if request.param == "embedded":
        return migrated(sqlite_settings(tmp_path))
    return migrated(real_settings(request))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def intake_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for intake-only tests, on SQLite and on PostgreSQL (no broker needed)."""
    if request.param == "sqlite":
        settings = sqlite_settings(tmp_path)
    else:
        pg: PostgresServer = request.getfixturevalue("postgres_server")
        url = pg.fresh_database(unique("intake"))
        settings = Settings(
            intake_database_url=url, aggregator_database_url=url, event_log_url=url, **UNLIMITED
        )
    upgrade("intake", make_engine(settings.intake_database_url))
    upgrade("access", make_engine(settings.access_url))
    return settings


@dataclass
class System:
    """The whole flow, driven step by step from a test: post -> relay -> consume -> report."""

    settings: Settings
    intake: Intake
    client: FlaskClient
    aggregator: Aggregator
    reports: FlaskClient
    relay: Relay | None
    consumer: Consumer
    access: AccessStore
    token: str  #: the operator credential both clients send (see OPERATOR_ROLES)

    def post(self, body: Any, **kw: Any) -> Any:
        return self.client.post("/api/v1/submissions", json=body, **kw)

    def sync(self, timeout: float = 90.0) -> None:
        """Publish the outbox (with Kafka) and consume until the aggregator has caught up."""
        if self.relay is not None:
            self.relay.drain(timeout)
        self.consumer.run_until_caught_up(timeout)

    def report(self, district: str, period: str = "quarter", date: str = "2026-11-27", **params: Any) -> Any:
        resp = self.reports.get(
            f"/api/v1/reports/districts/{district}",
            query_string={"period": period, "date": date, "as_of": "2026-11-27", **params},
        )
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()


def make_relay(settings: Settings, engine: Any) -> Relay:
    from services.eventlog.kafka import KafkaConnection, KafkaPublisher

    connection = KafkaConnection.from_settings(settings)
    return Relay(
        engine,
        lambda: KafkaPublisher(connection, settings.topic),
        lease_seconds=60,
    )


def build_system(settings: Settings) -> System:
    intake = intake_bootstrap(settings, clock=lambda: NOW)
    agg = agg_bootstrap(settings)
    access = access_bootstrap(settings)
    token = operator_token(access)
    app = authorize(intake_app(settings, intake, access), token)
    app.config["TESTING"] = True
    relay = make_relay(settings, intake.engine) if settings.uses_kafka else None
    return System(
        settings=settings,
        intake=intake,
        client=app.test_client(),
        aggregator=agg,
        reports=authorize(reports_app(settings, agg, access), token).test_client(),
        relay=relay,
        consumer=agg.consumer(),
        access=access,
        token=token,
    )


@pytest.fixture
def system(backend: Settings) -> Iterator[System]:
    """The whole system; after every scenario the rollups must equal a recomputation from the facts."""
    s = build_system(backend)
    yield s
    s.consumer.close()
    if s.relay is not None:
        s.relay._reset_publisher()
    # the reports app's log reader (opened by a /metrics scrape) lives as long as its app; this one ends here
    reader = s.reports.application.extensions.pop("score.log_reader", None)
    if reader is not None:
        reader.close()
    report = verify(s.aggregator.engine)
    assert report.ok, f"rollups differ from a recomputation: {report.differences[:5]}"


@pytest.fixture
def app(intake_settings: Settings) -> Any:
    """The intake app (pytest-flask's ``client`` fixture builds on this)."""
    access = access_bootstrap(intake_settings)
    application = intake_app(intake_settings, intake_bootstrap(intake_settings, clock=lambda: NOW), access)
    application.config["TESTING"] = True
    return authorize(application, operator_token(access))
