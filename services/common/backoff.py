"""Retry for ever, waiting longer after each failure: the loop of the relay and of the consumer.

A broker or database that is down must neither make a loop spin (a flood of log lines, load on whatever is
recovering) nor make it give up (nothing may be dropped).  So: wait ``first`` seconds after a failure, twice
as long after each further one in a row, never more than ``most``; one success starts again at ``first``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Backoff:
    first: float = 0.5
    most: float = 10.0
    delay: float = field(init=False)

    def __post_init__(self) -> None:
        self.delay = self.first

    def failed(self) -> float:
        """How long to wait after this failure; the next failure in a row waits twice as long."""
        wait = self.delay
        self.delay = min(self.delay * 2, self.most)
        return wait

    def succeeded(self) -> None:
        self.delay = self.first


def retry_forever(
    stop: threading.Event,
    attempt: Callable[[], object],
    on_failure: Callable[[Exception, float], None],
    backoff: Backoff | None = None,
) -> None:
    """Call ``attempt`` until ``stop`` is set.  When it raises, ``on_failure(exc, wait)`` (count it, log it,
    drop a broken client) and wait ``wait`` seconds; setting ``stop`` ends the wait at once."""
    backoff = backoff or Backoff()
    while not stop.is_set():
        try:
            attempt()
        except Exception as exc:  # noqa: BLE001 - whatever failed, wait and retry; on_failure reports it
            wait = backoff.failed()
            on_failure(exc, wait)
            stop.wait(wait)
        else:
            backoff.succeeded()


__all__ = ["Backoff", "retry_forever"]
