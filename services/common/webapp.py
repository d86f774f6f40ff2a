"""What both HTTP apps (the intake and the reports) are built from: one factory, one error body.

``make_flask_app`` does what every app of this system needs, the same way in both: JSON that keeps Chinese
text readable, the request log line and its ``X-Request-ID`` (``services.common.weblog``), ``/healthz``, and
errors in the one JSON shape of ``services.common.openapi.ERROR_SCHEMA``: Werkzeug's own refusals (404,
405, 413, ...) and faults on our side (500, or 503 while the database is unreachable), logged with their
stack and answered without it.  Each service supplies only its words for them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

from flask import Blueprint, Flask, Response, request
from sqlalchemy.exc import OperationalError
from werkzeug.datastructures import LanguageAccept
from werkzeug.exceptions import HTTPException
from werkzeug.http import parse_accept_header

from services.common import prom, weblog
from services.common.errorbody import error_response


def lang() -> str:
    """The language of this request's answer: English when ``Accept-Language`` prefers it, else Chinese."""
    return _lang_of(request.headers.get("Accept-Language"))


@lru_cache(maxsize=256)
def _lang_of(header: str | None) -> str:
    """``lang`` for one header value.  Every API answer names its language (``Content-Language``), and
    parsing the header each time cost ~40 us of a phone's usual ``zh-CN,zh;q=0.9,en;q=0.8`` (~16 us without
    one); a device sends the same value every time.  Bounded: made-up values only evict each other."""
    best = parse_accept_header(header, LanguageAccept).best_match(["zh-CN", "zh", "en"], default="zh")
    return "en" if best and best.startswith("en") else "zh"


def _code(exc: HTTPException) -> str:
    """The stable code of a Werkzeug refusal: its name in snake case (``method_not_allowed``)."""
    return (exc.name or "error").lower().replace(" ", "_")


def werkzeug_message(exc: HTTPException) -> str:
    """Werkzeug's own (English) description of a refusal."""
    return exc.description or exc.name


def make_flask_app(
    import_name: str,
    *,
    extensions: Mapping[str, object],
    blueprints: Iterable[Blueprint],
    log: logging.Logger,
    fault_message: Callable[[], str],
    http_message: Callable[[HTTPException], str] = werkzeug_message,
    max_request_bytes: int | None = None,
) -> Flask:
    """A Flask app with ``extensions`` (the service's composition root) and ``blueprints`` registered.

    ``http_message`` words a Werkzeug refusal, ``fault_message`` an unexpected error; both are called while
    the request is handled, so they may answer in the language it asks for.  ``max_request_bytes``: larger
    bodies are refused with 413 before anything reads them.
    """
    app = Flask(import_name)
    if max_request_bytes is not None:
        app.config["MAX_CONTENT_LENGTH"] = max_request_bytes
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions.update(extensions)
    weblog.init_app(app)
    # "services.intake.entrypoints.app" -> "intake": the service label of its request metrics
    prom.init_app(app, import_name.split(".")[1] if import_name.startswith("services.") else import_name)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)

    @app.get("/healthz")
    def healthz() -> Any:
        return {"status": "ok"}

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        """Werkzeug's refusals (413, 404, 405, ...) in the API's error shape."""
        code = _code(exc)
        resp = error_response(exc.code or 500, code, http_message(exc) or code)
        for name, value in exc.get_headers():
            if name.lower() != "content-type":  # keep Allow (405) and the like; the body is ours
                resp.headers[name] = value
        return resp

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        # A fault on our side (database down, bug): logged with its stack, answered without one.
        log.exception("unhandled error on %s %s", request.method, request.path)
        status = 503 if isinstance(exc, OperationalError) else 500
        return error_response(status, "internal_error", fault_message())

    return app


__all__ = ["error_response", "make_flask_app", "werkzeug_message"]
