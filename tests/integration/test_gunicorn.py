"""The intake under the documented production command: gunicorn, on loopback, started and stopped here.

The command is read from the systemd unit (``deploy/systemd/score-intake.service``), which must be the one
``deploy/README.md`` shows; only the bind address is changed, to a free loopback port.  It runs on the
embedded default with ``SCORE_LOG_FORMAT=json``:

- slow clients (slowloris: request headers sent a line at a time, never finished) do not stop it serving;
- the one-line-per-request log appears, as JSON, with the request id.
"""

from __future__ import annotations

import http.client
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from services.access import AccessStore
from services.common.db import make_engine
from services.common.migrate import upgrade
from tests.builders import inspection
from tests.conftest import operator_token
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "systemd" / "score-intake.service"
VENV_PREFIX = "/opt/score/.venv/bin/"
SLOW_CLIENTS = 10  # the report had 6 stop /healthz for ~30 s against 4 sync workers
HEALTHZ_BUDGET = 2.0  # seconds; healthy it is milliseconds, blocked it was ~30 s


def documented_command() -> list[str]:
    """The intake's ExecStart, which deploy/README.md must show word for word (one source for both)."""
    exec_start = next(
        line.split("=", 1)[1].strip()
        for line in UNIT.read_text().splitlines()
        if line.startswith("ExecStart=")
    )
    assert exec_start.startswith(VENV_PREFIX), exec_start
    command = exec_start[len(VENV_PREFIX) :]
    assert f"`{command}`" in (ROOT / "deploy" / "README.md").read_text(), (
        "deploy/README.md shows another command"
    )
    return shlex.split(command)


def on_loopback(argv: list[str], port: int) -> list[str]:
    """The documented argv with this venv's gunicorn, bound to ``127.0.0.1:port`` instead of all interfaces."""
    assert argv[0] == "gunicorn" and argv.count("-b") == 1, argv
    out = [str(Path(sys.executable).parent / "gunicorn"), *argv[1:]]
    out[out.index("-b") + 1] = f"127.0.0.1:{port}"
    return out


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Served:
    port: int
    workers: int
    log: Path  # the server's stderr: its log
    token: str  # the operator credential every request sends

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10,
    ) -> tuple[int, bytes, float]:
        """(status, body, seconds) over a fresh connection, so no kept-alive socket hides a blocked server."""
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            hdrs = {"Authorization": f"Bearer {self.token}", **(headers or {})}
            if payload:
                hdrs = {"Content-Type": "application/json", **hdrs}
            conn.request(method, path, body=payload, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, resp.read(), time.monotonic() - started
        finally:
            conn.close()

    def log_records(self) -> list[dict[str, Any]]:
        return [
            json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines() if line.strip()
        ]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("gunicorn")
    intake_url = f"sqlite:///{tmp / 'intake.db'}"
    upgrade("intake", make_engine(intake_url))
    upgrade("access", make_engine(intake_url))
    token = operator_token(AccessStore(make_engine(intake_url)))
    env = {
        **os.environ,
        "SCORE_INTAKE_DATABASE_URL": intake_url,
        "SCORE_AGGREGATOR_DATABASE_URL": f"sqlite:///{tmp / 'aggregator.db'}",
        "SCORE_KAFKA_BOOTSTRAP_SERVERS": "",
        "SCORE_LOG_FORMAT": "json",
    }
    argv = documented_command()
    workers = int(argv[argv.index("-w") + 1])
    port = free_port()
    log = tmp / "gunicorn.log"
    with log.open("wb") as err:
        # its own session: the master and its workers form one process group that teardown can signal
        proc = subprocess.Popen(
            on_loopback(argv, port), cwd=ROOT, env=env, stdout=err, stderr=err, start_new_session=True
        )
    server = Served(port, workers, log, token)
    try:

        def booted() -> bool:
            assert proc.poll() is None, f"gunicorn exited: {log.read_text()[-2000:]}"
            text = log.read_text(encoding="utf-8")
            return text.count("Booting worker") >= workers

        _wait(booted, 90, f"{workers} gunicorn workers to boot")

        def healthy() -> bool:
            try:
                return server.request("GET", "/healthz", timeout=5)[0] == 200
            except OSError:
                return False

        _wait(healthy, 60, "/healthz to answer")
        yield server
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_the_documented_command_is_one_source_for_both_apis() -> None:
    readme = (ROOT / "deploy" / "README.md").read_text()
    for unit in ("score-intake.service", "score-reports.service"):
        text = (ROOT / "deploy" / "systemd" / unit).read_text()
        exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
        command = exec_start.split("=", 1)[1].removeprefix(VENV_PREFIX)
        assert f"`{command}`" in readme, unit
        assert "-c python:services.common.gunicorn_conf" in command, unit  # gthread workers, logging


class Slowloris:
    """Connections that send a request's headers one line per interval and never finish them."""

    def __init__(self, port: int, count: int, interval: float = 0.5) -> None:
        self.socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]
        self.interval = interval
        self.stop = threading.Event()
        self.lines_sent = 0
        for s in self.socks:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # a request line and a first header
        self.thread = threading.Thread(target=self._drip, daemon=True)
        self.thread.start()

    def _drip(self) -> None:
        n = 0
        while not self.stop.wait(self.interval):
            n += 1
            for s in self.socks:
                s.sendall(f"X-Slow-{n}: {'a' * 8}\r\n".encode())
            self.lines_sent = n

    def unanswered(self) -> int:
        """How many are still open with nothing answered: the server is holding them, not refusing them."""
        open_ = 0
        for s in self.socks:
            s.setblocking(False)  # look, do not wait (with a timeout set, recv would first wait that long)
            try:
                if s.recv(1) == b"":
                    continue  # closed by the server
            except BlockingIOError:
                open_ += 1  # open, nothing to read
            finally:
                s.settimeout(5)
        return open_

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        for s in self.socks:
            s.close()


def test_slow_clients_do_not_stop_it_serving(served: Served) -> None:
    slow = Slowloris(served.port, SLOW_CLIENTS)
    try:
        _wait(lambda: slow.lines_sent >= 2, 10, "the slow clients to be dripping headers")
        timings = []
        for _ in range(10):
            try:
                status, _, seconds = served.request("GET", "/healthz", timeout=HEALTHZ_BUDGET * 5)
            except TimeoutError:
                timings.append(float("inf"))  # blocked, as sync workers were
                break
            assert status == 200
            timings.append(seconds)
            time.sleep(0.2)  # spread the probes over the slow clients' life (~2 s), they are not a load test
        assert max(timings) < HEALTHZ_BUDGET, (
            f"/healthz took {max(timings):.2f}s with slow clients: {timings}"
        )
        body = inspection()
        status, receipt, _ = served.request("POST", "/api/v1/submissions", body=body)
        assert status == 201, receipt  # the API itself serves too, writes included
        assert slow.unanswered() == SLOW_CLIENTS  # all the while the slow connections were held open
        assert slow.lines_sent >= 4
    finally:
        slow.close()


def test_requests_are_logged_one_json_line_each_with_their_request_id(served: Served) -> None:
    request_id = f"phone-7-{uuid.uuid4().hex[:8]}"
    status, _, _ = served.request("GET", "/api/v1/forms", headers={"X-Request-ID": request_id})
    assert status == 200

    def logged() -> list[dict[str, Any]]:
        return [r for r in served.log_records() if r.get("request_id") == request_id]

    _wait(lambda: bool(logged()), 10, "the request's log line")
    (line,) = logged()
    assert line["logger"] == "score.http" and line["level"] == "info"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/api/v1/forms", 200)
    assert isinstance(line["ms"], float)
    # one line per request: gunicorn's access line (no request id) would only repeat it
    assert not any(r["logger"] == "gunicorn.access" for r in served.log_records())
    # every line is JSON (log_records parsed them all), gunicorn's own included
    assert any(
        r["logger"] == "gunicorn.error" and "Booting worker" in r["message"] for r in served.log_records()
    )


def _listening_sockets(port: int) -> int:
    """How many sockets listen on ``127.0.0.1:port`` (Linux's /proc/net/tcp: local address, state 0A)."""
    local = f"0100007F:{port:04X}"
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for row in rows if row.split()[1] == local and row.split()[3] == "0A")


def test_every_worker_listens_on_a_socket_of_its_own(served: Served) -> None:
    """``reuse_port`` (services/common/gunicorn_conf.py): the kernel spreads new connections over one socket per
    worker.  On one shared socket the worker awake first took them all (a burst of keep-alive connections
    could land on one worker of two, which then served alone behind its interpreter lock)."""
    _wait(lambda: _listening_sockets(served.port) >= served.workers, 30, "every worker's socket")
    assert _listening_sockets(served.port) == served.workers
    # and connections are answered whichever socket the kernel gives them to
    for _ in range(2 * served.workers):
        assert served.request("GET", "/healthz")[0] == 200
