"""Gunicorn settings shared by both APIs: ``gunicorn -c python:services.common.gunicorn_conf ...``.

The production commands (``deploy/systemd/*.service``, ``deploy/README.md``) load this module; a setting given
on their command line (``-w``, ``-b``, ``--threads``) overrides the value here.  Why these values:

- ``gthread`` workers, not the default ``sync`` ones.  A sync worker serves one connection at a time and
  reads its request headers before anything else: six phones on a bad mobile link (or six slowloris
  connections) sending their headers a byte at a time held all four workers, and ``/healthz`` went unanswered
  until the ``--timeout`` killed them (~30 s).  A gthread worker waits for a connection's first bytes in its
  event loop and gives it a thread only then, so a slow client costs one thread, not a process.
- ``threads = 16``: with ``-w 4`` that is 64 requests in progress at once, far above the intake's load (a
  request is a few milliseconds of CPU and one short transaction) and above what a handful of slow clients can
  hold.  Threads beyond the database pool (the intake keeps 15 per worker, ``services/intake/bootstrap.py``)
  wait for a connection rather than fail.  What this cannot do alone is stand a deliberate flood of slow
  connections larger than the thread count: that is the reverse proxy's job (``deploy/README.md``).
- ``keepalive = 5``: idle kept-alive connections wait in the event loop (no thread); 5 s covers a phone
  sending its next queued submission and then frees the socket.
- ``timeout = 30``: under gthread this watches the worker's event loop, not a request, so a hung worker is
  replaced in 30 s while slow clients are not what trips it.
- ``reuse_port``: each worker listens on a socket of its own (``SO_REUSEPORT``; gunicorn 27 then opens one in each
  worker) and the kernel spreads new connections over them by their addresses.  On the one socket all workers
  shared, the worker awake first accepted them: under wrk's burst of 16 keep-alive connections one of two
  workers got every one in some runs (0.0 and 0.9 cores per worker), and the batch's connections sat on one
  worker in half the runs, so one process, one interpreter lock, served what two cores could (the bare
  endpoint 595/s against ~850/s balanced, in the same run of the bench).  A keep-alive connection stays with
  its worker; the spread is now of chance by address, not of who woke first.  What it costs: connections
  queued on a worker that dies are reset rather than taken by another (the client retries; submissions are
  idempotent), and the port is shared only with processes of the same user.
- No control socket (gunicorn >= 25.1 opens one at ``~/.gunicorn/gunicorn.ctl`` by default, one path for every
  gunicorn of the user, so the intake's and the reports' would contend for it); nothing here uses it.
- Prometheus: every worker is a process with its own request counters, so ``prometheus-client`` runs in its
  multiprocess mode: ``PROMETHEUS_MULTIPROC_DIR`` is set here, before any worker imports the client (it
  chooses its storage at import), to the configured directory or a new one; the master empties it at start
  (``on_starting``: counts of an earlier run would be added in) and forgets a dead worker's live values
  (``child_exit``); any worker's ``/metrics`` then answers for all of them.
- The garbage collector (``services/common/gctune.py``): each worker freezes what its app built at start-up
  and raises the young threshold once the app is loaded (``post_worker_init``): a full collection had walked
  ~80,000 start-up objects for ~40 ms with every request thread of the worker stalled behind it.
- Logging: gunicorn configures only its own loggers, so the one-line-per-request log
  (``services.common.weblog``, INFO) had no handler in the workers and ``SCORE_LOG_FORMAT=json`` did not
  apply.  ``logconfig_dict`` gives the master and the workers the configuration ``score`` commands use.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from services.common.config import from_env
from services.common.gctune import tune_gc
from services.common.logs import logging_config

worker_class = "gthread"
threads = 16
keepalive = 5
timeout = 30
graceful_timeout = 20
control_socket_disable = True
reuse_port = True

logconfig_dict = logging_config(from_env().log_format)

_settings = from_env()
_own_metrics_dir = not _settings.prometheus_multiproc_dir
METRICS_DIR = _settings.prometheus_multiproc_dir or tempfile.mkdtemp(prefix="score-prometheus-")
# Inherited by the workers, read by prometheus-client when they import it (never imported in this module).
os.environ["PROMETHEUS_MULTIPROC_DIR"] = METRICS_DIR


def on_starting(server: Any) -> None:
    path = Path(METRICS_DIR)
    path.mkdir(parents=True, exist_ok=True)
    for leftover in path.glob("*.db"):
        # missing_ok: a second gunicorn given the same directory, starting at the same moment, may delete it
        # first (the master used to die of that, exit status 1, before binding its port)
        leftover.unlink(missing_ok=True)


def post_worker_init(worker: Any) -> None:
    tune_gc()


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, METRICS_DIR)


def on_exit(server: Any) -> None:
    if _own_metrics_dir:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)
