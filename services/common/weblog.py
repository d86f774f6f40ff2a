"""One log line per request, with a request id that the response echoes (``X-Request-ID``).

A field device that retries can send its own ``X-Request-ID``; support staff then find every attempt in the
logs by the id the phone shows.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from flask import Flask, Response, g, request

log = logging.getLogger("score.http")
_VISIBLE = re.compile(r"[\x21-\x7e]+")


def init_app(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        supplied = request.headers.get("X-Request-ID", "")[:64]
        # only visible ASCII is echoed: a folded header can carry a line break, which Werkzeug refuses to
        # write into the response (a 500 on every route), and control characters would garble log lines
        g.request_id = supplied if _VISIBLE.fullmatch(supplied) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        request_id = getattr(g, "request_id", "")
        response.headers["X-Request-ID"] = request_id
        extra: dict[str, Any] = {
            "request_id": request_id,
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "ms": round((time.perf_counter() - getattr(g, "started", time.perf_counter())) * 1000, 1),
        }
        log.info("%(method)s %(path)s %(status)s %(ms)sms id=%(request_id)s", extra, extra={"http": extra})
        return response
