"""Pieces of the fault suite: the production processes, the clients and their ledger, conditions to wait on.

Everything here talks to real OS processes over loopback, the way a deployment does (deploy/README.md):
the intake under gunicorn, ``score relay`` and ``score aggregator consume``. Nothing here knows how the
services work inside; the checks read the databases and the topic from the outside.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from tests.builders import inspection, rectification, survey
from tests.servers import free_port  # noqa: F401 - the fault tests take it from here

BIN = Path(sys.executable).parent
REPO_ROOT = Path(__file__).resolve().parents[2]

#: two counties of Jinhua and one district of Hangzhou: leaves of the hierarchy, so each is its own cell
DISTRICTS = ("330784", "330702", "330102")
SUBMIT = "/api/v1/submissions"


class SuiteError(AssertionError):
    """A condition the suite waited on never came, or a process died: fail with what we know."""


def wait_for(cond: Callable[[], bool], timeout: float, what: str, poll: float = 0.1) -> float:
    """Wait until ``cond()`` is true; returns the seconds it took. Exceptions count as 'not yet'
    (a database or broker that is down answers with exceptions), the last one is shown on timeout."""
    start = time.monotonic()
    last: Exception | None = None
    while True:
        try:
            if cond():
                return time.monotonic() - start
        except SuiteError:
            raise  # a process died: no use waiting for the deadline
        except Exception as exc:  # noqa: BLE001 - 'not yet'; reported if the deadline passes
            last = exc
        if time.monotonic() - start > timeout:
            detail = f" (last error: {type(last).__name__}: {last})" if last else ""
            raise SuiteError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(poll)


# -- processes -----------------------------------------------------------------------------------------------
class Process:
    """One production process, its output in a log file (a pipe nobody reads would fill and block it)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.log_dir = log_dir
        self.generation = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = log_dir / f"{name}.log"

    def start(self) -> Process:
        self.generation += 1
        self.log_path = self.log_dir / f"{self.name}.{self.generation}.log"
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            code = self.proc.returncode if self.proc is not None else None
            raise SuiteError(f"{self.name} exited on its own (code {code}); its log ends:\n{self.tail()}")

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: a crash, no clean shutdown, no lease released, no group left."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (the documented clean stop), SIGKILL if it does not go."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)  # in case it was paused
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


def score(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Process:
    return Process(name, [str(BIN / "score"), *args], env, log_dir)


def gunicorn_intake(port: int, env: dict[str, str], log_dir: Path, workers: int = 3) -> Process:
    return Process(
        "intake",
        [
            str(BIN / "gunicorn"),
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--timeout",
            "60",
            "services.intake.entrypoints.app:create_app()",
        ],
        env,
        log_dir,
    )


# -- HTTP ------------------------------------------------------------------------------------------------------
@dataclass
class Answer:
    status: int
    body: Any


def post(port: int, path: str, payload: bytes, token: str, timeout: float = 30.0) -> Answer:
    """One POST on a fresh connection, with the client's own bearer token (a device token, as a phone has)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(
            "POST",
            path,
            body=payload,
            headers={
                "Content-Type": "application/json",
                "Accept-Language": "en",
                "Authorization": f"Bearer {token}",
            },
        )
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode(errors="replace")
    return Answer(resp.status, body)


def healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    finally:
        conn.close()


# -- the clients' ledger -----------------------------------------------------------------------------------
@dataclass
class Inspection:
    """One inspection lineage as its owning client knows it (only that client corrects, reviews or
    rectifies it, so the client knows the order of everything that happened to it)."""

    root: str
    district: str
    enterprise: int
    day: date
    hazards: list[tuple[str, str, str, str]]  # (code, category, severity, deadline)
    passed: int
    versions: list[str]
    status: str = "pending"  # the review status of the newest version
    rectified: set[str] = field(default_factory=set)

    @property
    def newest(self) -> str:
        return self.versions[-1]


@dataclass
class Ledger:
    """What the clients sent and what they were told, shared by all client threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    #: submission id -> the receipt of its first acknowledgement
    receipts: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: submission id -> its form
    forms: dict[str, str] = field(default_factory=dict)
    surveys: list[tuple[str, str, date]] = field(default_factory=list)  # (id, district, day)
    inspections: list[Inspection] = field(default_factory=list)
    rectifications: list[tuple[str, str, str]] = field(default_factory=list)  # (id, inspection root, item)
    #: acknowledged reviews: (submission id, seq) -> the unique token in its comment
    reviews: dict[tuple[str, int], str] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    connection_errors: int = 0
    duplicate_resends: int = 0
    #: everything a client was told that it should not have been (wrong status, other receipt, ...)
    wrong: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)
    sent: int = 0  # distinct submissions and reviews the clients set out to deliver

    @property
    def acknowledged(self) -> int:
        with self.lock:
            return len(self.receipts) + len(self.reviews)

    def count(self, status: int) -> None:
        with self.lock:
            self.statuses[status] += 1

    def note_wrong(self, what: str) -> None:
        with self.lock:
            self.wrong.append(what)


class Pace:
    """A shared rate for all clients: the load stays steady (a few thousand submissions over the run)
    whatever the machine's speed, so the consumers are always mid-stream when a fault comes."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self, stop: threading.Event) -> None:
        with self._lock:
            at = max(self._next, time.monotonic())
            self._next = at + self.interval
        delay = at - time.monotonic()
        if delay > 0:
            stop.wait(delay)


def days_before(today: date, n: int) -> list[date]:
    """The ``n`` days before ``today``: in the past whatever the host's date, so no clock rule refuses them."""
    return [today - timedelta(days=i) for i in range(n, 0, -1)]


class Client(threading.Thread):
    """A phone (or a district office) posting submissions and reviews, retrying like the field app does:
    a lost answer or a 503 means 'send the same body again', never 'send a new one'."""

    def __init__(
        self,
        index: int,
        seed: int,
        port: int,
        ledger: Ledger,
        pace: Pace,
        stop: threading.Event,
        days: list[date],
        token: str,
        deadline_per_request: float = 120.0,
    ) -> None:
        super().__init__(name=f"client-{index}", daemon=True)
        self.rng = random.Random(seed * 1000 + index)
        self.port, self.ledger, self.pace, self.stop_event = port, ledger, pace, stop
        self.days = days
        self.token = token
        self.deadline_per_request = deadline_per_request
        self.mine: list[Inspection] = []
        self.error: BaseException | None = None

    # -- sending ---------------------------------------------------------------------------------------
    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def deliver(self, path: str, payload: bytes, what: str) -> Answer | None:
        """Send until an answer that is not 'try again' comes; None if none came in time."""
        deadline = time.monotonic() + self.deadline_per_request
        backoff = 0.1
        while True:
            try:
                answer = post(self.port, path, payload, self.token)
            except (OSError, http.client.HTTPException):
                with self.ledger.lock:
                    self.ledger.connection_errors += 1
                answer = None
            if answer is not None:
                self.ledger.count(answer.status)
                if answer.status < 500:
                    return answer
                if answer.status != 503:
                    self.ledger.note_wrong(f"{what}: {answer.status} {answer.body}")
            if time.monotonic() > deadline:
                with self.ledger.lock:
                    self.ledger.unanswered.append(what)
                return None
            time.sleep(backoff)  # the client's retry back-off, not a wait on the system
            backoff = min(backoff * 2, 1.0)

    def submit(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """Deliver a submission; on an acknowledgement, sometimes send it again (a retry after an answer
        the phone did not see): that must be 200 with the same receipt."""
        sid = body["submission_id"]
        payload = json.dumps(body, ensure_ascii=False).encode()
        with self.ledger.lock:
            self.ledger.sent += 1
        answer = self.deliver(SUBMIT, payload, f"submission {sid}")
        if answer is None:
            return None
        if answer.status not in (200, 201) or not isinstance(answer.body, dict):
            self.ledger.note_wrong(f"submission {sid}: {answer.status} {answer.body}")
            return None
        receipt = answer.body
        with self.ledger.lock:
            self.ledger.receipts[sid] = receipt
            self.ledger.forms[sid] = body["form"]
        if self.rng.random() < 0.10:
            with self.ledger.lock:
                self.ledger.duplicate_resends += 1
            again = self.deliver(SUBMIT, payload, f"re-sent submission {sid}")
            if again is not None and (again.status != 200 or again.body != receipt):
                self.ledger.note_wrong(
                    f"re-sent submission {sid}: {again.status} {again.body}, first receipt {receipt}"
                )
        return receipt

    # -- what a client does --------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                self.pace.wait(self.stop_event)
                if self.stop_event.is_set():
                    break
                self.one_action()
        except BaseException as exc:  # noqa: BLE001 - reported by the test, never swallowed
            self.error = exc

    def one_action(self) -> None:
        r = self.rng.random()
        open_hazards = [i for i in self.mine if len(i.rectified) < len(i.hazards)]
        if r < 0.42:
            self.new_survey()
        elif r < 0.67 or not self.mine:
            self.new_inspection()
        elif r < 0.78 and open_hazards:
            self.rectify(self.rng.choice(open_hazards))
        elif r < 0.88:
            self.correct(self.rng.choice(self.mine))
        else:
            self.review(self.rng.choice(self.mine))

    def new_survey(self) -> None:
        district, day = self.rng.choice(DISTRICTS), self.rng.choice(self.days)
        body = survey(
            district=district,
            enterprise=self.rng.randint(1, 60),
            day=day,
            climate=self.rng.randint(1, 5),
            cooperation=self.rng.randint(1, 5),
            injured=self.rng.random() < 0.1,
            submission_id=self._uuid(),
        )
        if self.submit(body) is not None:
            with self.ledger.lock:
                self.ledger.surveys.append((body["submission_id"], district, day))

    def _inspection_body(self, i: Inspection, sid: str, replaces: str | None) -> dict[str, Any]:
        return inspection(
            district=i.district,
            enterprise=i.enterprise,
            day=i.day,
            failed=i.hazards,
            passed=i.passed,
            submission_id=sid,
            replaces=replaces,
        )

    def new_inspection(self) -> None:
        day = self.rng.choice(self.days)
        hazards = [
            (
                f"HZ-{n + 1:02d}",
                self.rng.choice(("machinery", "electrical", "fire", "dust_explosion")),
                self.rng.choice(("general", "general", "major")),
                (day + timedelta(days=self.rng.randint(0, 20))).isoformat(),
            )
            for n in range(self.rng.choice((0, 1, 1, 2)))
        ]
        sid = self._uuid()
        i = Inspection(
            root=sid,
            district=self.rng.choice(DISTRICTS),
            enterprise=self.rng.randint(1, 60),
            day=day,
            hazards=hazards,
            passed=self.rng.randint(1, 6),
            versions=[sid],
        )
        if self.submit(self._inspection_body(i, sid, None)) is not None:
            self.mine.append(i)
            with self.ledger.lock:
                self.ledger.inspections.append(i)

    def correct(self, i: Inspection) -> None:
        """A correction of the newest version: same place, day and hazards, a different count of passed
        items (so rectifications of its hazards stay valid)."""
        sid = self._uuid()
        i.passed = i.passed % 6 + 1
        if self.submit(self._inspection_body(i, sid, i.newest)) is not None:
            with self.ledger.lock:
                i.versions.append(sid)
                i.status = "pending"  # a new version has not been reviewed

    def rectify(self, i: Inspection) -> None:
        code = next(h[0] for h in i.hazards if h[0] not in i.rectified)
        body = rectification(i.root, code, on=self.days[-1], submission_id=self._uuid(), district=i.district)
        if self.submit(body) is not None:
            with self.ledger.lock:
                i.rectified.add(code)
                self.ledger.rectifications.append((body["submission_id"], i.root, code))

    def review(self, i: Inspection) -> None:
        decision = self.rng.choice(("approved", "approved", "has_issues", "rejected"))
        token = f"fault-suite review {self._uuid()}"
        # a review_id minted once and sent again on every retry: a retry after a lost answer records it once
        review = {"status": decision, "reviewer": "bureau-07", "comment": token, "review_id": self._uuid()}
        payload = json.dumps(review).encode()
        with self.ledger.lock:
            self.ledger.sent += 1
        target = i.newest
        answer = self.deliver(f"{SUBMIT}/{target}/review", payload, f"review of {target}")
        if answer is None:
            return
        body = answer.body
        if answer.status != 200 or not isinstance(body, dict) or body.get("review_status") != decision:
            self.ledger.note_wrong(f"review of {target}: {answer.status} {body}")
            return
        with self.ledger.lock:
            self.ledger.reviews[(target, int(body["seq"]))] = token
            i.status = decision


# -- reading the consumers' logs (only for the report, never as a condition) -----------------------------
FAILED_BATCH = re.compile(r"consumer batch failed", re.IGNORECASE)


def count_lines(text: str, pattern: re.Pattern[str]) -> int:
    return sum(1 for line in text.splitlines() if pattern.search(line))


def env_with(base: dict[str, str], **extra: str) -> dict[str, str]:
    return {**base, **extra, "PYTHONUNBUFFERED": "1"}


def pid_paused(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "T"
