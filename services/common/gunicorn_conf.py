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
- No control socket (gunicorn >= 25.1 opens one at ``~/.gunicorn/gunicorn.ctl`` by default, one path for every
  gunicorn of the user, so the intake's and the reports' would contend for it); nothing here uses it.
- Logging: gunicorn configures only its own loggers, so the one-line-per-request log
  (``services.common.weblog``, INFO) had no handler in the workers and ``SCORE_LOG_FORMAT=json`` did not
  apply.  ``logconfig_dict`` gives the master and the workers the configuration ``score`` commands use.
"""

from __future__ import annotations

from services.common.config import from_env
from services.common.logs import logging_config

worker_class = "gthread"
threads = 16
keepalive = 5
timeout = 30
graceful_timeout = 20
control_socket_disable = True

logconfig_dict = logging_config(from_env().log_format)
