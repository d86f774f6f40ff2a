"""Garbage-collector settings for the long-running processes (gunicorn workers, ``score aggregator consume``).

Why: a process of this project holds ~80,000 objects once its app is imported (Flask, SQLAlchemy, marshmallow,
kafka-python), and a full collection walks all of them: 40 ms on this class of machine, with the interpreter
lock held, so every thread of a gunicorn worker stalls with it (the intake's p99 at half load jumped from ~15
to 80-120 ms in the runs that caught one).  The start-up objects are never garbage; frozen, no collection
walks them again.

The young threshold: kafka-python builds a tuple per record and per header (thousands per fetch) and a
request builds its body, form and rows; with CPython's default of 700 the collector ran every 700 container
allocations.  20,000 took the consumer's record decoding from ~38 to ~29 us CPU an event; what these processes
allocate holds few reference cycles, and memory still returns as references drop.
"""

from __future__ import annotations

import gc

#: young-generation threshold of the garbage collector (CPython's default: 700)
GC_YOUNG_THRESHOLD = 20_000


def tune_gc() -> None:
    """Freeze what exists now (call it once the app or the consumer is built) and raise the thresholds."""
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)
