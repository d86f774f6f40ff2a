"""The event stream is locked: logins, refusals and least-privileged services on the real broker.

Every test makes its own users (random passwords, per-test names) and grants them their roles with
``services/eventlog/access.py`` on its own topics, as an operator would with the local broker's users.
"""

from __future__ import annotations

import ast
import json
import re
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    KafkaError,
    KafkaTimeoutError,
    TopicAuthorizationFailedError,
)

from services.aggregator.bootstrap import bootstrap as agg_bootstrap
from services.common.config import Settings
from services.eventlog import access
from services.eventlog.kafka import (
    KafkaConnection,
    KafkaLoginError,
    KafkaLogReader,
    client_security,
    closed_if_refused,
)
from tests.builders import inspection, survey
from tests.conftest import build_system, migrated, process_env, real_settings
from tests.servers import KafkaBroker, KafkaLogin, ServerControlUnsupported, unsupported
from tests.topics import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

REPO_ROOT = Path(__file__).resolve().parents[2]
WRITE_REFUSED = (TopicAuthorizationFailedError, ClusterAuthorizationFailedError)


@dataclass
class Locked:
    """A test's topics on the locked broker, and one user per role granted on them."""

    settings: Settings  # the admin's: creates the topics
    relay: KafkaLogin
    aggregator: KafkaLogin
    integrator: KafkaLogin

    def as_(self, login: KafkaLogin) -> Settings:
        return replace(self.settings, **login.settings_fields())


@pytest.fixture
def locked(request: pytest.FixtureRequest) -> Iterator[Locked]:
    broker: KafkaBroker = request.getfixturevalue("kafka_broker")
    if not broker.locked:
        unsupported(ServerControlUnsupported(f"the Kafka broker at {broker.bootstrap} takes no login"))
    settings = migrated(real_settings(request))
    tag = uuid.uuid4().hex[:8]
    logins = {role: KafkaLogin(f"{role}-{tag}", secrets.token_urlsafe(18)) for role in access.ROLES}
    admin = access.admin_client(settings)
    try:
        for role, login in logins.items():
            access.set_password(admin, login.username, login.password)
            access.grant(admin, role, login.username, settings)
    finally:
        admin.close()
    yield Locked(settings, logins["relay"], logins["aggregator"], logins["integrator"])


def _producer(settings: Settings, login: KafkaLogin) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, max_block_ms=20000, **login.client_kwargs()
    )


def _send(settings: Settings, login: KafkaLogin, topic: str) -> None:
    producer = _producer(settings, login)
    try:
        producer.send(topic, key=b"k", value=b"{}").get(timeout=30)
    finally:
        producer.close(timeout=5)


def _assert_write_refused(settings: Settings, login: KafkaLogin, topic: str) -> None:
    """Producing is refused: TopicAuthorizationFailed, or (an idempotent producer with no WRITE anywhere)
    ClusterAuthorizationFailed from InitProducerId, which kafka-python wraps in a plain KafkaError."""
    with pytest.raises(KafkaError) as refused:
        _send(settings, login, topic)
    assert isinstance(refused.value, WRITE_REFUSED) or any(
        name in str(refused.value)
        for name in ("TopicAuthorizationFailedError", "ClusterAuthorizationFailedError")
    ), repr(refused.value)


def _group_consumer(settings: Settings, login: KafkaLogin, group: str) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **login.client_kwargs(),
    )


def _read_as_group(settings: Settings, login: KafkaLogin, topic: str, group: str, count: int) -> list[Any]:
    """Read ``count`` records of ``topic`` as a member of ``group`` and commit: what a subscriber does."""
    consumer = _group_consumer(settings, login, group)
    consumer.subscribe([topic])
    records: list[Any] = []
    try:
        deadline = time.monotonic() + 60
        while len(records) < count:
            assert time.monotonic() < deadline, f"read {len(records)} of {count} records of {topic}"
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        consumer.commit()
    finally:
        consumer.close()
    return records


def _poll_until_refused(consumer: KafkaConsumer, exc: type[Exception] | tuple[type[Exception], ...]) -> None:
    """Poll until the broker's refusal surfaces (kafka-python raises it from poll); fail after 30 s."""
    with pytest.raises(exc):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            consumer.poll(timeout_ms=500)


def _score(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _env(settings: Settings, login: KafkaLogin, password_file: Path) -> dict[str, str]:
    """A ``score`` process's environment logging in as ``login``, its password in a file (as deployed)."""
    password_file.write_text(login.password + "\n")
    password_file.chmod(0o600)
    env = process_env(replace(settings, **login.settings_fields()))
    del env["SCORE_KAFKA_PASSWORD"]
    env["SCORE_KAFKA_PASSWORD_FILE"] = str(password_file)
    return env


# -- logins ------------------------------------------------------------------------------------------------


def _io_threads() -> set[int | None]:
    """kafka-python's network threads alive now (one per client, named ``kafka-io-<client id>``)."""
    return {t.ident for t in threading.enumerate() if t.name.startswith("kafka-io-") and t.is_alive()}


def test_a_client_without_a_login_is_refused(locked: Locked) -> None:
    bootstrap = locked.settings.kafka_bootstrap_servers
    before = _io_threads()
    # what any Kafka client gets: no answer at all
    with pytest.raises(KafkaTimeoutError):
        closed_if_refused(KafkaAdminClient, bootstrap_servers=bootstrap, bootstrap_timeout_ms=3000)
    # what our services say instead
    with pytest.raises(KafkaLoginError, match="requires authentication.*SCORE_KAFKA_USERNAME"):
        KafkaConnection(bootstrap, {"security_protocol": "PLAINTEXT"}).client(
            KafkaAdminClient, bootstrap_timeout_ms=3000
        )
    # and a refused client leaves no network thread behind (kafka-python starts it before the bootstrap that
    # failed; a consumer retrying while the broker refuses had gathered one more per attempt)
    assert _io_threads() <= before


def test_a_wrong_password_is_refused_with_a_clear_error(locked: Locked, tmp_path: Path) -> None:
    wrong = KafkaLogin(locked.integrator.username, locked.integrator.password + "x")
    before = _io_threads()
    with pytest.raises(KafkaLoginError) as refused:
        KafkaLogReader(
            KafkaConnection(locked.settings.kafka_bootstrap_servers, wrong.client_kwargs()),
            locked.settings.topic,
        )
    message = str(refused.value)
    assert _io_threads() <= before
    assert f"refused the login of user {wrong.username!r} (SCRAM-SHA-512)" in message
    assert "invalid credentials" in message or "wrong user name or password" in message
    assert "SCORE_KAFKA_PASSWORD_FILE" in message
    assert wrong.password not in message

    # the CLI: one line naming the user and what to check, exit 1, no traceback, no password
    proc = _score(_env(locked.settings, wrong, tmp_path / "wrong.password"), "aggregator", "verify")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert (
        f"Error: Kafka at {locked.settings.kafka_bootstrap_servers} refused the login of user " in proc.stderr
    )
    assert "Traceback" not in proc.stderr and wrong.password not in proc.stderr + proc.stdout


# -- what each role may and may not do ----------------------------------------------------------------------


def test_the_integrator_reads_the_public_topics_and_nothing_else(locked: Locked) -> None:
    s, integrator = locked.settings, locked.integrator
    public = [s.topic, s.dead_letter_topic, s.rollup_topic]
    for topic in public:
        _send(s, KafkaLogin(s.kafka_username, s.kafka_password), topic)  # the admin puts one record in each

    own_group = f"{access.integrator_group_prefix(integrator.username)}audit"
    for topic in public:
        assert len(read_topic(s.kafka_bootstrap_servers, topic, security=integrator.client_kwargs())) == 1
        assert len(_read_as_group(s, integrator, topic, own_group, 1)) == 1

    for topic in public:
        _assert_write_refused(s, integrator, topic)

    # not another group: the aggregator's, or one outside its prefix
    for group in (s.consumer_group, f"x{integrator.username}.audit"):
        consumer = _group_consumer(s, integrator, group)
        consumer.subscribe([s.topic])
        try:
            _poll_until_refused(consumer, GroupAuthorizationFailedError)
        finally:
            consumer.close()

    # not a topic outside the public ones
    private = f"{s.topic}.private"
    admin = access.admin_client(s)
    try:
        admin.create_topics({private: {"num_partitions": 1, "replication_factor": -1}})
        admin.wait_for_topics([private])
    finally:
        admin.close()
    reader = KafkaConsumer(bootstrap_servers=s.kafka_bootstrap_servers, **integrator.client_kwargs())
    try:
        assert not reader.partitions_for_topic(private)  # it is not even told the topic exists
        with pytest.raises(TopicAuthorizationFailedError):
            reader.end_offsets([TopicPartition(private, 0)])
    finally:
        reader.close()


def test_the_relay_writes_its_topic_but_cannot_read(locked: Locked) -> None:
    s, relay = locked.settings, locked.relay
    _send(s, relay, s.topic)
    for topic in (s.dead_letter_topic, s.rollup_topic):
        _assert_write_refused(s, relay, topic)
    reader = KafkaConsumer(bootstrap_servers=s.kafka_bootstrap_servers, **relay.client_kwargs())
    try:
        reader.assign([TopicPartition(s.topic, 0)])
        reader.seek_to_beginning()
        _poll_until_refused(reader, TopicAuthorizationFailedError)
    finally:
        reader.close()


def test_the_aggregator_cannot_write_the_submissions_topic(locked: Locked) -> None:
    s, aggregator = locked.settings, locked.aggregator
    _assert_write_refused(s, aggregator, s.topic)
    for topic in (s.dead_letter_topic, s.rollup_topic):
        _send(s, aggregator, topic)  # what it may write


# -- the whole flow through the locked broker, each service as its own user -------------------------------


def test_the_flow_runs_through_the_locked_broker_as_least_privileged_users(
    locked: Locked, tmp_path: Path
) -> None:
    s = locked.settings
    system = build_system(s)  # only its intake is used: the relay and the aggregator run as their users
    try:
        bodies = [inspection(district="330784", enterprise=i) for i in range(3)]
        bodies += [survey(district="330784", enterprise=i) for i in range(5)]
        for body in bodies:
            assert system.post(body).status_code == 201

        # the relay process, logged in as the relay user (password from a file)
        relay_env = _env(s, locked.relay, tmp_path / "relay.password")
        proc = _score(relay_env, "relay", "--drain")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "published 8 events; backlog 0" in proc.stdout

        # a record the aggregator cannot apply, so that it writes a dead letter too
        _send(s, KafkaLogin(s.kafka_username, s.kafka_password), s.topic)

        # the aggregator, logged in as the aggregator user: reads its topic and group, writes dead letters
        # and rollups
        agg = agg_bootstrap(locked.as_(locked.aggregator))
        consumer = agg.consumer()
        try:
            consumer.run_until_caught_up(90)
            assert (consumer.stats.applied, consumer.stats.dead_letters) == (8, 1)
        finally:
            consumer.close()
        agg_env = _env(s, locked.aggregator, tmp_path / "aggregator.password")
        proc = _score(agg_env, "aggregator", "verify", "--caught-up")
        assert proc.returncode == 0, proc.stdout + proc.stderr

        # the integrator sees all of it on the public topics
        login = locked.integrator.client_kwargs()
        events = read_topic(s.kafka_bootstrap_servers, s.topic, security=login)
        assert len(events) == 9
        dead = read_topic(s.kafka_bootstrap_servers, s.dead_letter_topic, security=login)
        assert len(dead) == 1 and dict(dead[0].headers)["score_dlq_source"] == f"kafka:{s.topic}".encode()
        rollups = read_topic(s.kafka_bootstrap_servers, s.rollup_topic, security=login)
        assert "330784" in {r.key.decode().split(":")[0] for r in rollups}
        assert all(json.loads(r.value) for r in rollups)
    finally:
        system.consumer.close()


# -- docs/integrators.md ----------------------------------------------------------------------------------


def _documented_consumer_kwargs() -> tuple[list[Any], dict[str, Any]]:
    """The arguments of the ``KafkaConsumer(...)`` call in docs/integrators.md's kafka-python example."""
    text = (REPO_ROOT / "docs" / "integrators.md").read_text()
    section = text.split("## kafka-python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None, "no python example under '## kafka-python'"
    calls = [
        node
        for node in ast.walk(ast.parse(code.group(1)))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "KafkaConsumer"
    ]
    assert len(calls) == 1
    args = [ast.literal_eval(a) for a in calls[0].args]
    kwargs: dict[str, Any] = {}
    for kw in calls[0].keywords:
        assert kw.arg is not None
        try:
            kwargs[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:
            kwargs[kw.arg] = ast.unparse(kw.value)  # an expression (reading the password file)
    return args, kwargs


def test_the_documented_kafka_python_settings_log_an_integrator_in(locked: Locked) -> None:
    args, kwargs = _documented_consumer_kwargs()
    assert args == ["score.submissions.v1"]
    assert kwargs["security_protocol"] == "SASL_PLAINTEXT"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_username"] == "integrator"
    assert "password" in str(kwargs["sasl_plain_password"])
    assert str(kwargs["group_id"]).startswith(access.integrator_group_prefix("integrator"))

    s, integrator = locked.settings, locked.integrator
    _send(s, KafkaLogin(s.kafka_username, s.kafka_password), s.topic)
    # the documented settings, with this test's broker, user, password, group prefix and topic
    documented = {
        **kwargs,
        "bootstrap_servers": s.kafka_bootstrap_servers,
        "sasl_plain_username": integrator.username,
        "sasl_plain_password": integrator.password,
        "group_id": access.integrator_group_prefix(integrator.username)
        + str(kwargs["group_id"]).removeprefix("integrator."),
    }
    consumer = KafkaConsumer(s.topic, **documented)
    records: list[Any] = []
    try:
        deadline = time.monotonic() + 60
        while not records:
            assert time.monotonic() < deadline, "the documented consumer read nothing"
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        consumer.commit()
    finally:
        consumer.close()
    assert records[0].key == b"k"


def test_the_services_settings_come_from_the_environment(locked: Locked, tmp_path: Path) -> None:
    """One place builds the clients' login from SCORE_KAFKA_*; the password file wins over nothing else."""
    from services.common.config import from_env

    env = _env(locked.settings, locked.relay, tmp_path / "relay.password")
    settings = from_env(env)
    assert client_security(settings) == locked.relay.client_kwargs()
    assert locked.relay.password not in repr(settings)
