"""Real Kafka and PostgreSQL servers for tests.

Integration tests run against a real Apache Kafka broker and a real PostgreSQL server rather than fakes,
because the properties we rely on (consumer-group offsets surviving a broker restart, idempotent producers,
transactional outbox rows, SKIP LOCKED) are exactly what fakes get wrong. Starting them is delegated to the
scripts in deploy/local, which developers use too, so there is one way to run them; this module only drives
those scripts from pytest fixtures.

Developers who keep servers running between test runs can point the tests at them instead:

- ``SCORE_TEST_KAFKA_BOOTSTRAP=127.0.0.1:9092`` (e.g. ``deploy/local/kafka/kafka run``)
- ``SCORE_TEST_DATABASE_URL=postgresql+psycopg://score@127.0.0.1:5432/score``
  (e.g. ``deploy/local/postgres run``)

The brokers are locked as in production (SASL/SCRAM-SHA-512 logins, ACLs, no access without one): every
broker a test run starts gets the run's own admin password, generated here at random (nothing secret is
committed), so settings made for one of them log in on another too. An external broker is logged into with
``SCORE_TEST_KAFKA_USERNAME`` and ``SCORE_TEST_KAFKA_PASSWORD_FILE`` (or ``SCORE_TEST_KAFKA_PASSWORD``), e.g.
``var/kafka/credentials/admin.password`` of ``deploy/local/kafka/kafka run``; without them it is used without a
login (and the tests that need a locked broker fail on CI, skip locally).

Such external servers are never started, stopped, restarted or killed by the tests; the fault-injection
methods raise :class:`ServerControlUnsupported`, which :func:`skip_unless_controllable` turns into a skip
locally and into a failure on CI (``CI`` set), so CI can never silently skip the fault tests.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import URL, make_url

REPO_ROOT = Path(__file__).resolve().parent.parent
KAFKA_SCRIPT = REPO_ROOT / "deploy" / "local" / "kafka" / "kafka"
POSTGRES_SCRIPT = REPO_ROOT / "deploy" / "local" / "postgres"

KAFKA_ENV = "SCORE_TEST_KAFKA_BOOTSTRAP"
KAFKA_USERNAME_ENV = "SCORE_TEST_KAFKA_USERNAME"
KAFKA_PASSWORD_ENV = "SCORE_TEST_KAFKA_PASSWORD"
KAFKA_PASSWORD_FILE_ENV = "SCORE_TEST_KAFKA_PASSWORD_FILE"
#: the SASL mechanism of every login the tests use (the one the local broker enables)
KAFKA_SASL_MECHANISM = "SCRAM-SHA-512"
# The admin password of every broker this test run starts: random per run (and per process).
_RUN_ADMIN_PASSWORD = secrets.token_urlsafe(24)
DATABASE_ENV = "SCORE_TEST_DATABASE_URL"

# Generous: a cold first run also downloads ~45 MB of jars from Maven Central before the broker starts.
KAFKA_START_TIMEOUT = 90.0
KAFKA_FETCH_TIMEOUT = 600.0
POSTGRES_START_TIMEOUT = 60.0
# A cold first run on a fresh machine may apt-get install PostgreSQL.
POSTGRES_INSTALL_TIMEOUT = 600.0

_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class ServerError(RuntimeError):
    """A server script failed; the message carries its output so the failing test shows why."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for a server a test or the bench starts a moment later.

    Picked below the kernel's ephemeral range on purpose: a port the kernel hands out for ``bind(0)`` comes
    from the range that outgoing connections use too, so between the pick and the server's own bind (a
    ``score migrate`` or a Kafka log-in in between) a client connection could take it and the server died
    with "address in use" (seen once in the bench smoke test).  Nothing takes a port below that range
    unasked."""
    low = 32768
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    pick = random.SystemRandom()
    for _ in range(500):
        port = pick.randrange(10_000, max(low, 10_001))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free TCP port found between 10000 and {low}")


class ServerControlUnsupported(RuntimeError):
    """Raised when a test wants to stop/restart/kill a server it does not own (one given by environment)."""


def kafka_bootstrap_from_env() -> str | None:
    """The bootstrap address of an already-running broker named by ``SCORE_TEST_KAFKA_BOOTSTRAP``, if any."""
    value = os.environ.get(KAFKA_ENV, "").strip()
    return value or None


def postgres_url_from_env() -> str | None:
    """The SQLAlchemy URL of an already-running PostgreSQL named by ``SCORE_TEST_DATABASE_URL``, if any."""
    value = os.environ.get(DATABASE_ENV, "").strip()
    return value or None


def on_ci() -> bool:
    """True on CI, where missing capabilities must fail loudly instead of skipping."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def skip_unless_controllable(server: KafkaBroker | PostgresServer) -> None:
    """Skip (locally) or fail (on CI) a test that needs to stop, restart or kill ``server``.

    Call it at the top of fault-injection tests, or catch :class:`ServerControlUnsupported` and call
    :func:`unsupported` with it.
    """
    __tracebackhide__ = True  # report the skip at the calling test, not here
    if server.external:
        unsupported(
            ServerControlUnsupported(
                f"{type(server).__name__} comes from the environment ({server.address}); "
                "this test needs a server it can stop and restart"
            )
        )


def unsupported(exc: ServerControlUnsupported) -> NoReturn:
    """Turn ``exc`` into ``pytest.skip`` locally, ``pytest.fail`` on CI."""
    __tracebackhide__ = True
    if on_ci():
        pytest.fail(f"{exc} (CI is set, so this is not skipped)")
    pytest.skip(str(exc))


def _script_env() -> dict[str, str]:
    env = dict(os.environ)
    # The Kafka script probes readiness with kafka-python; use this interpreter, which has it installed.
    env.setdefault("SCORE_PYTHON", sys.executable)
    # Brokers formatted by this run share its admin password (the script makes one up otherwise).
    env["SCORE_KAFKA_ADMIN_PASSWORD"] = _RUN_ADMIN_PASSWORD
    return env


@dataclass(frozen=True)
class KafkaLogin:
    """A Kafka user and password (empty user: no login, PLAINTEXT)."""

    username: str = ""
    password: str = field(default="", repr=False)

    @property
    def security_protocol(self) -> str:
        return "SASL_PLAINTEXT" if self.username else "PLAINTEXT"

    def client_kwargs(self) -> dict[str, Any]:
        """kafka-python keyword arguments for this login."""
        if not self.username:
            return {"security_protocol": "PLAINTEXT"}
        return {
            "security_protocol": self.security_protocol,
            "sasl_mechanism": KAFKA_SASL_MECHANISM,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
        }

    def settings_fields(self) -> dict[str, Any]:
        """``Settings`` fields for this login (``dataclasses.replace(settings, **login.settings_fields())``)."""
        return {
            "kafka_security_protocol": self.security_protocol,
            "kafka_sasl_mechanism": KAFKA_SASL_MECHANISM,
            "kafka_username": self.username,
            "kafka_password": self.password,
        }

    def env(self) -> dict[str, str]:
        """The environment that gives a ``score`` subprocess this login."""
        if not self.username:
            return {"SCORE_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}
        return {
            "SCORE_KAFKA_SECURITY_PROTOCOL": self.security_protocol,
            "SCORE_KAFKA_SASL_MECHANISM": KAFKA_SASL_MECHANISM,
            "SCORE_KAFKA_USERNAME": self.username,
            "SCORE_KAFKA_PASSWORD": self.password,
        }


def kafka_admin_login() -> KafkaLogin:
    """The admin login of every broker of this test run: ours (random per run) or the external one's."""
    if kafka_bootstrap_from_env() is None:
        return KafkaLogin("admin", _RUN_ADMIN_PASSWORD)
    username = os.environ.get(KAFKA_USERNAME_ENV, "").strip()
    password_file = os.environ.get(KAFKA_PASSWORD_FILE_ENV, "").strip()
    if password_file:
        password = Path(password_file).read_text().strip()
    else:
        password = os.environ.get(KAFKA_PASSWORD_ENV, "")
    return KafkaLogin(username, password)


def kafka_admin_kwargs() -> dict[str, Any]:
    """kafka-python keyword arguments that log a test's own client in as the run's Kafka admin."""
    return kafka_admin_login().client_kwargs()


def _run(args: list[str], timeout: float) -> str:
    """Run a deploy/local script and return the last line of its stdout (its documented result)."""
    try:
        proc = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, env=_script_env(), check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ServerError(f"{' '.join(args)} timed out after {timeout:.0f}s\n{_decode(exc.stderr)}") from exc
    if proc.returncode != 0:
        raise ServerError(
            f"{' '.join(args)} failed with exit code {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if not lines:
        raise ServerError(f"{' '.join(args)} printed nothing on stdout\n{proc.stderr}")
    return lines[-1].strip()


def _decode(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def _pid_alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie (orphans may stay zombies when PID 1 does not reap them)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@dataclass
class KafkaBroker:
    """A single-node Kafka broker: started by us in ``dir``, or given by ``SCORE_TEST_KAFKA_BOOTSTRAP``."""

    bootstrap: str
    dir: Path | None = None
    external: bool = field(default=False)
    #: the super user's login (tests create topics, users and ACLs with it)
    admin: KafkaLogin = field(default_factory=kafka_admin_login)

    @property
    def address(self) -> str:
        return self.bootstrap

    @property
    def locked(self) -> bool:
        """True when clients must log in (always for a broker the tests start)."""
        return bool(self.admin.username)

    def login(self, user: str) -> KafkaLogin:
        """The login of one of the users ``deploy/local/kafka/kafka`` creates (relay, aggregator, integrator,
        admin) in a broker the tests started; its password is in the broker's directory."""
        dir = self._owned_dir(f"read the password of {user!r} of")
        return KafkaLogin(user, (dir / "credentials" / f"{user}.password").read_text().strip())

    @classmethod
    def start(cls, dir: Path, *, timeout: float = KAFKA_START_TIMEOUT) -> KafkaBroker:
        """Start (or restart) the broker whose state lives in ``dir``; block until it answers metadata.

        The jars are fetched first in a separate step so a cold cache does not eat into the start timeout.
        """
        _run([str(KAFKA_SCRIPT), "fetch"], timeout=KAFKA_FETCH_TIMEOUT)
        bootstrap = _run(
            [str(KAFKA_SCRIPT), "start", "--dir", str(dir), "--timeout", str(int(timeout))],
            timeout=timeout + 30,
        )
        return cls(bootstrap=bootstrap, dir=Path(dir))

    @classmethod
    def from_env(cls) -> KafkaBroker | None:
        """The broker named by ``SCORE_TEST_KAFKA_BOOTSTRAP`` (not owned by us), or None."""
        bootstrap = kafka_bootstrap_from_env()
        return cls(bootstrap=bootstrap, external=True) if bootstrap else None

    @classmethod
    def from_env_or_start(cls, dir: Path) -> KafkaBroker:
        """What session fixtures want: the developer's running broker if named, else our own in ``dir``."""
        return cls.from_env() or cls.start(dir)

    def _owned_dir(self, action: str) -> Path:
        if self.external or self.dir is None:
            raise ServerControlUnsupported(
                f"cannot {action} the Kafka broker at {self.bootstrap}: it was given by {KAFKA_ENV}, "
                "not started by the tests"
            )
        return self.dir

    def stop(self) -> None:
        """Stop cleanly (SIGTERM, SIGKILL after 30 s).

        A no-op for an external broker, so session fixtures can always call it on teardown.
        """
        if self.external:
            return
        _run_quiet([str(KAFKA_SCRIPT), "stop", "--dir", str(self._owned_dir("stop"))], timeout=60)

    def restart(self, *, timeout: float = KAFKA_START_TIMEOUT) -> None:
        """Stop and start again on the same dir: same port, same topics, messages and committed offsets."""
        dir = self._owned_dir("restart")
        self.stop()
        started = KafkaBroker.start(dir, timeout=timeout)
        if started.bootstrap != self.bootstrap:
            raise ServerError(f"broker came back on {started.bootstrap}, expected {self.bootstrap}")

    def kill(self) -> None:
        """SIGKILL the broker (a crash, no clean shutdown) for fault tests; :meth:`restart` brings it back."""
        dir = self._owned_dir("kill")
        pid_file = dir / "kafka.pid"
        if not pid_file.exists():
            return
        pid = int(pid_file.read_text().strip())
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 30
        while _pid_alive(pid):
            if time.monotonic() > deadline:
                raise ServerError(f"Kafka broker pid {pid} survived SIGKILL")
            time.sleep(0.05)
        pid_file.unlink(missing_ok=True)


@dataclass
class KafkaCluster:
    """A cluster of brokers on this machine (``deploy/local/kafka/kafka cluster``), started by a test that
    needs to lose one of them; locked like the single node, with the run's admin password."""

    bootstrap: str
    dir: Path
    admin: KafkaLogin = field(default_factory=kafka_admin_login)

    @classmethod
    def start(cls, dir: Path, *, nodes: int = 3, timeout: float = 180.0) -> KafkaCluster:
        """Start the nodes in ``dir`` that are not running (all of them the first time); block until every
        node answers metadata."""
        _run([str(KAFKA_SCRIPT), "fetch"], timeout=KAFKA_FETCH_TIMEOUT)
        bootstrap = _run(
            [
                str(KAFKA_SCRIPT),
                "cluster",
                "start",
                "--dir",
                str(dir),
                "--nodes",
                str(nodes),
                "--timeout",
                str(int(timeout)),
            ],
            timeout=timeout + 60,
        )
        return cls(bootstrap=bootstrap, dir=Path(dir))

    def login(self, user: str) -> KafkaLogin:
        return KafkaLogin(user, (self.dir / "credentials" / f"{user}.password").read_text().strip())

    def node_port(self, node: int) -> int:
        return int(self.bootstrap.split(",")[node - 1].rsplit(":", 1)[1])

    def node_pid(self, node: int) -> int | None:
        pid_file = self.dir / f"node{node}" / "kafka.pid"
        if not pid_file.exists():
            return None
        pid = int(pid_file.read_text().strip())
        return pid if _pid_alive(pid) else None

    def kill(self, node: int) -> None:
        """SIGKILL one node (a crash); :meth:`restart_missing` brings it back."""
        pid = self.node_pid(node)
        if pid is None:
            return
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _pid_alive(pid):
            if time.monotonic() > deadline:
                raise ServerError(f"Kafka node {node} (pid {pid}) survived SIGKILL")
            time.sleep(0.05)
        (self.dir / f"node{node}" / "kafka.pid").unlink(missing_ok=True)

    def restart_missing(self, *, timeout: float = 180.0) -> None:
        """Start the nodes that are down, on their own ports and data; the others keep running."""
        started = KafkaCluster.start(self.dir, timeout=timeout)
        if started.bootstrap != self.bootstrap:
            raise ServerError(f"cluster came back as {started.bootstrap}, expected {self.bootstrap}")

    def stop(self) -> None:
        _run_quiet([str(KAFKA_SCRIPT), "cluster", "stop", "--dir", str(self.dir)], timeout=90)


def _run_quiet(args: list[str], timeout: float) -> None:
    try:
        proc = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, env=_script_env(), check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ServerError(f"{' '.join(args)} timed out after {timeout:.0f}s\n{_decode(exc.stderr)}") from exc
    if proc.returncode != 0:
        raise ServerError(f"{' '.join(args)} failed with exit code {proc.returncode}\n{proc.stderr}")


@dataclass
class PostgresServer:
    """A PostgreSQL server, either started by us in ``dir`` or given by ``SCORE_TEST_DATABASE_URL``.

    ``url`` is a SQLAlchemy URL with the psycopg 3 driver (``postgresql+psycopg://``) for database ``score``.
    """

    url: str
    dir: Path | None = None
    external: bool = field(default=False)

    @property
    def address(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    @classmethod
    def start(cls, dir: Path, *, timeout: float = POSTGRES_START_TIMEOUT) -> PostgresServer:
        """Start (or restart) the cluster in ``dir`` (initdb on first use); block until it takes queries."""
        _run([str(POSTGRES_SCRIPT), "install"], timeout=POSTGRES_INSTALL_TIMEOUT)
        url = _run(
            [str(POSTGRES_SCRIPT), "start", "--dir", str(dir), "--timeout", str(int(timeout))],
            timeout=timeout + 30,
        )
        return cls(url=url, dir=Path(dir))

    @classmethod
    def from_env(cls) -> PostgresServer | None:
        """The server named by ``SCORE_TEST_DATABASE_URL`` (not owned by us), or None."""
        url = postgres_url_from_env()
        return cls(url=url, external=True) if url else None

    @classmethod
    def from_env_or_start(cls, dir: Path) -> PostgresServer:
        """What session fixtures want: the developer's running server if named, else our own in ``dir``."""
        return cls.from_env() or cls.start(dir)

    def _owned_dir(self, action: str) -> Path:
        if self.external or self.dir is None:
            raise ServerControlUnsupported(
                f"cannot {action} the PostgreSQL server at {self.address}: it was given by {DATABASE_ENV}, "
                "not started by the tests"
            )
        return self.dir

    def stop(self) -> None:
        """Fast shutdown. A no-op for an external server, so fixtures can always call it."""
        if self.external:
            return
        _run_quiet([str(POSTGRES_SCRIPT), "stop", "--dir", str(self._owned_dir("stop"))], timeout=60)

    def restart(self, *, timeout: float = POSTGRES_START_TIMEOUT) -> None:
        """Stop and start again on the same dir and port; data survives."""
        self._owned_dir("restart")
        self.stop()
        self.start_again(timeout=timeout)

    def start_again(self, *, timeout: float = POSTGRES_START_TIMEOUT) -> None:
        """Start after :meth:`stop` (an outage of any length) on the same dir and port; data survives."""
        dir = self._owned_dir("start")
        started = PostgresServer.start(dir, timeout=timeout)
        if started.url != self.url:
            raise ServerError(f"PostgreSQL came back as {started.url}, expected {self.url}")

    def url_for(self, database: str) -> str:
        """The SQLAlchemy URL of another database on this server (same host, port and credentials)."""
        return make_url(self.url).set(database=database).render_as_string(hide_password=False)

    def fresh_database(self, name: str) -> str:
        """Create an empty database ``name`` (dropping any leftover of that name) and return its URL.

        One database per test module or test keeps tests independent without a server per test; dropping a
        leftover makes reruns after an aborted session start from empty too.
        """
        if not _DATABASE_NAME.match(name):
            raise ValueError(f"database name {name!r} must match {_DATABASE_NAME.pattern}")
        with psycopg.connect(_conninfo(make_url(self.url)), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)


def _conninfo(url: URL) -> str:
    """A libpq conninfo string for a SQLAlchemy URL (psycopg cannot take the ``+psycopg`` dialect prefix)."""
    params: dict[str, str | int] = {"dbname": url.database or "postgres"}
    if url.host:
        params["host"] = url.host
    if url.port:
        params["port"] = url.port
    if url.username:
        params["user"] = url.username
    if url.password:
        params["password"] = str(url.password)
    for key, value in url.query.items():
        params[key] = value if isinstance(value, str) else value[-1]
    return make_conninfo("", **params)
