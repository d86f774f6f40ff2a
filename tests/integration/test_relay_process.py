"""``score relay`` as a process: publishes the backlog, and on SIGTERM hands its lease over at once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from services.eventlog.outbox import relay_lease
from tests.builders import inspection
from tests.conftest import build_system, migrated, process_env, real_settings

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def test_sigterm_stops_the_relay_cleanly_and_releases_its_lease(request: pytest.FixtureRequest) -> None:
    settings = migrated(real_settings(request))
    system = build_system(settings)
    for i in range(5):
        assert system.post(inspection(enterprise=i)).status_code == 201
    env = process_env(settings)
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "score"), "relay"], env=env, stderr=subprocess.PIPE
    )
    assert system.relay is not None
    try:
        deadline = time.monotonic() + 60
        while system.relay.backlog():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else "relay died"
            assert time.monotonic() < deadline, "the relay process did not publish the backlog"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0
    with system.intake.engine.connect() as conn:
        expires = conn.execute(select(relay_lease.c.expires_at)).scalar_one()
    assert expires.startswith("1970-01-01")  # released, not left to run out
    assert system.relay.acquire_lease()  # a standby takes over at once
    system.consumer.close()
