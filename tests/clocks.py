"""Run a block as if on a host in a given time zone at a given instant, to prove code independent of both."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import time_machine


@contextmanager
def on_host(zone: str, instant: datetime) -> Iterator[None]:
    """The process's local zone is ``zone`` (``TZ`` re-read, as on a host configured so) and the clock stands
    at ``instant``; both are restored afterwards.

    The instant is given to time-machine as a timestamp: given an aware datetime it would also switch the
    local zone to that datetime's own, which would hide the very host-zone dependence under test.
    """
    if instant.tzinfo is None:
        raise ValueError("give the instant with its time zone")
    before = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        with time_machine.travel(instant.timestamp(), tick=False):
            yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()
