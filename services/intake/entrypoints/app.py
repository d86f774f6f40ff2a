"""The intake's HTTP API: request -> validation -> use case -> status code.  No rules live here."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from services.access import AccessStore, Denied
from services.access import bootstrap as access_bootstrap
from services.access import web as access_web
from services.common import weblog
from services.common.config import Settings, from_env
from services.intake import forms
from services.intake.bootstrap import Intake, bootstrap
from services.intake.domain.model import DomainError
from services.intake.entrypoints import jsonbody
from services.intake.forms.base import UUID_PATTERN
from services.intake.service_layer import access, handlers

log = logging.getLogger(__name__)
api = Blueprint("api", __name__, url_prefix="/api/v1")


def _intake() -> Intake:
    intake: Intake = current_app.extensions["score.intake"]
    return intake


def _lang() -> str:
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"], default="zh")
    return "en" if best and best.startswith("en") else "zh"


@api.after_request
def _content_language(response: Response) -> Response:
    response.headers["Content-Language"] = "zh-CN" if _lang() == "zh" else "en"
    return response


def _error(
    status: int, code: str, message: dict[str, str], errors: list[dict[str, str]] | None = None
) -> Response:
    body: dict[str, Any] = {"error": {"code": code, "message": _text(message) or code}}
    if errors is not None:
        body["error"]["errors"] = errors
    resp = jsonify(body)
    resp.status_code = status
    return resp


def _text(message: dict[str, str]) -> str:
    return message.get(_lang()) or message.get("en", "")


def _invalid_body(errors: list[forms.FieldError]) -> dict[str, Any]:
    return {
        "error": {
            "code": "invalid",
            "message": _text({"en": "the submission is not valid", "zh": "提交内容未通过校验"}),
            "errors": [{"path": e.path, "code": e.code, "message": _text(e.message)} for e in errors],
        }
    }


def _domain_error_body(exc: DomainError) -> dict[str, Any]:
    errors = [{"path": exc.path, "code": exc.code, "message": _text(exc.message)}] if exc.path else []
    return {"error": {"code": exc.code, "message": _text(exc.message), "errors": errors}}


def _json_body() -> Any:
    """The parsed body, or an error response for the wrong media type or a body that is not one JSON value.

    What is refused here is refused for the body as a whole (400): not UTF-8 JSON, or nested deeper than
    any form needs.  Duplicate keys and lone surrogates are found afterwards, with their paths
    (:func:`_ambiguities`), so that a batch can refuse only the items that hold them.
    """
    if not request.mimetype or request.mimetype != "application/json":
        return _error(
            415,
            "unsupported_media_type",
            {"en": "send the body as application/json", "zh": "请求体必须是 application/json"},
        )
    raw = request.get_data(cache=False)
    try:
        return jsonbody.loads(raw)
    except jsonbody.Unreadable as exc:
        return _error(400, exc.code, exc.message)


def _ambiguities(problems: list[jsonbody.Problem], drop: int = 0) -> tuple[int, dict[str, Any]] | None:
    """422 with every duplicate key and lone surrogate by path, or None when there is none."""
    if not problems:
        return None
    return 422, _invalid_body([p.field_error(drop) for p in problems])


def _submit_one(body: Any) -> tuple[int, dict[str, Any]]:
    """One submission through validation and the use case: (status, JSON body)."""
    intake = _intake()
    try:
        valid = forms.validate(
            body, now=intake.clock(), clock_skew=timedelta(seconds=intake.settings.clock_skew_seconds)
        )
        # access: the collector is the credential's account; its forms and districts bound what it may post
        valid = access.as_submitted_by(access_web.principal(), valid)
        access.check_submission(intake.uow(), access_web.principal(), valid)
        receipt = handlers.submit(intake.uow(), valid, intake.clock)
    except forms.Invalid as exc:
        return 422, _invalid_body(exc.errors)
    except Denied as exc:
        return 403, access_web.denied(exc).get_json()
    except DomainError as exc:
        return exc.status, _domain_error_body(exc)
    if receipt.created:
        access_web.audit(access.audit_action(valid), target=valid.submission_id, district=valid.district)
    return (201 if receipt.created else 200), receipt.body


@api.post("/submissions")
def post_submission() -> Any:
    body = _json_body()
    if isinstance(body, Response):
        return body
    status, payload = _ambiguities(jsonbody.problems(body)) or _submit_one(body)
    resp = jsonify(payload)
    resp.status_code = status
    if status in (200, 201):
        resp.headers["Location"] = f"/api/v1/submissions/{payload['submission_id']}"
    return resp


@api.post("/submissions/batch")
def post_batch() -> Any:
    """An offline queue flushed at once: each item stands or falls on its own, in its own transaction."""
    body = _json_body()
    if isinstance(body, Response):
        return body
    limit = _intake().settings.batch_limit
    # A problem outside the items (two "submissions" keys, say) is the batch's; one inside an item is that
    # item's alone, reported with the item's own paths like any other error of it.
    by_item: dict[int, list[jsonbody.Problem]] = {}
    outside: list[jsonbody.Problem] = []
    for p in jsonbody.problems(body):
        if len(p.parts) > 1 and p.parts[0] == "submissions" and isinstance(p.parts[1], int):
            by_item.setdefault(p.parts[1], []).append(p)
        else:
            outside.append(p)
    refused = _ambiguities(outside)
    if refused:
        return jsonify(refused[1]), refused[0]
    items = body.get("submissions") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        return _error(
            422,
            "invalid",
            {
                "en": 'expected {"submissions": [...]} with at least one item',
                "zh": '请求体应为 {"submissions": [...]}，且至少包含一项',
            },
            [{"path": "submissions", "code": "required", "message": "expected a non-empty list"}],
        )
    if len(items) > limit:
        return _error(
            413,
            "batch_too_large",
            {
                "en": f"at most {limit} submissions per batch, got {len(items)}",
                "zh": f"每批最多 {limit} 份提交，收到 {len(items)} 份",
            },
        )
    results = []
    for i, item in enumerate(items):
        status, payload = _ambiguities(by_item.get(i, []), drop=2) or _submit_one(item)
        results.append({"index": i, "status": status, **({"receipt": payload} if status < 300 else payload)})
    accepted = sum(1 for r in results if r["status"] < 300)
    return jsonify({"accepted": accepted, "rejected": len(results) - accepted, "results": results}), 207


#: A submission id as the forms accept it; anything else cannot name a stored submission.  Checked before
#: the database sees it: PostgreSQL refuses a NUL character in a query parameter with an error, not a miss.
#: a submission's or a review's id: a UUID in its 36-character form (the forms' pattern)
SUBMISSION_ID = re.compile(UUID_PATTERN)


def _no_such_submission(submission_id: str) -> Response:
    shown = submission_id[:64]
    return _error(404, "not_found", {"en": f"no submission {shown}", "zh": f"没有编号为 {shown} 的提交"})


@api.get("/submissions/<submission_id>")
def get_submission(submission_id: str) -> Any:
    if not SUBMISSION_ID.fullmatch(submission_id):
        return _no_such_submission(submission_id)
    try:
        access.check_read(_intake().uow(), access_web.principal(), submission_id.lower(), "read_submission")
        return jsonify(access.redact(handlers.get_submission(_intake().uow(), submission_id.lower())))
    except Denied as exc:
        return access_web.denied(exc)
    except DomainError as exc:
        return _error(exc.status, exc.code, exc.message)


#: C0 controls and DEL; a comment keeps tabs and line breaks.  PostgreSQL cannot store NUL in text at all.
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
REVIEWER_MAX = 64  # the reviewer columns' width
COMMENT_MAX = 2000


def _review_errors(body: Any) -> list[dict[str, str]]:
    """Every reason the review body cannot be recorded, by path (empty when it can)."""
    if not isinstance(body, dict):
        return [{"path": "", "code": "invalid_type", "message": "expected a JSON object"}]
    ambiguous = jsonbody.problems(body)
    if ambiguous:
        return [
            {"path": e.path, "code": e.code, "message": _text(e.message)}
            for e in (p.field_error() for p in ambiguous)
        ]
    errors = []
    if not isinstance(body.get("status"), str) or not body.get("status"):
        errors.append({"path": "status", "code": "required", "message": "status is required (a string)"})
    reviewer, comment = body.get("reviewer"), body.get("comment")
    if reviewer is not None and not isinstance(reviewer, str):  # optional: the credential names the reviewer
        errors.append({"path": "reviewer", "code": "invalid_type", "message": "reviewer must be a string"})
    if isinstance(reviewer, str) and (
        not reviewer or len(reviewer) > REVIEWER_MAX or _CONTROL.search(reviewer)
    ):
        errors.append(
            {
                "path": "reviewer",
                "code": "invalid_format",
                "message": f"reviewer must be 1 to {REVIEWER_MAX} characters without control characters",
            }
        )
    if comment is not None and not isinstance(comment, str):
        errors.append({"path": "comment", "code": "invalid_type", "message": "comment must be a string"})
    elif isinstance(comment, str) and (len(comment) > COMMENT_MAX or _CONTROL_IN_TEXT.search(comment)):
        errors.append(
            {
                "path": "comment",
                "code": "invalid_format",
                "message": f"comment must be at most {COMMENT_MAX} characters without control characters",
            }
        )
    review_id = body.get("review_id")
    if review_id is not None and not (isinstance(review_id, str) and SUBMISSION_ID.fullmatch(review_id)):
        errors.append(
            {
                "path": "review_id",
                "code": "invalid_format",
                "message": _text(
                    {
                        "en": "review_id must be a UUID in its 36-character form",
                        "zh": "review_id 必须是 36 位格式的 UUID",
                    }
                ),
            }
        )
    return errors


@api.post("/submissions/<submission_id>/review")
def post_review(submission_id: str) -> Any:
    """Record a review.  With a ``review_id`` (a UUID the client mints once per review and keeps for its
    retries) the same review again is answered 200 with the original answer and stored once; the same id with
    other content is 409.  Without one a retry records a second review: old clients still work, but are not
    retry-safe."""
    body = _json_body()
    if isinstance(body, Response):
        return body
    errors = _review_errors(body)
    if errors:
        return _error(422, "invalid", {"en": "the review is not valid", "zh": "审核内容未通过校验"}, errors)
    if not SUBMISSION_ID.fullmatch(submission_id):
        return _no_such_submission(submission_id)
    review_id = body.get("review_id")
    intake = _intake()
    who = access_web.principal()
    try:
        # access: only within the credential's districts, and the reviewer recorded is the credential's account
        district = access.check_read(intake.uow(), who, submission_id.lower(), "review")
        receipt = handlers.review(
            intake.uow(),
            submission_id.lower(),
            body["status"],
            body.get("comment"),
            who.name,
            intake.clock,
            review_id=review_id.lower() if review_id else None,
            request_reviewer=access.review_requester(who, body.get("reviewer")),
        )
    except Denied as exc:
        return access_web.denied(exc)
    except DomainError as exc:
        errs = (
            [{"path": exc.path, "code": exc.code, "message": exc.message.get(_lang(), "")}]
            if exc.path
            else None
        )
        return _error(exc.status, exc.code, exc.message, errs)
    resp = jsonify(receipt.body)
    if receipt.replayed:
        # As payment APIs do: tell a client (and its logs) that this answer is a replay, nothing new happened.
        resp.headers["Idempotent-Replayed"] = "true"
    else:
        access_web.audit(
            "review.create", target=receipt.body["submission_id"], district=district, detail=receipt.body
        )
    return resp


@api.get("/forms")
def list_forms() -> Any:
    return jsonify({"forms": forms.catalogue()})


#: access: who may call what (services/access/model.py has the roles behind each permission)
PUBLIC = frozenset({"healthz", "docs.openapi_json", "docs.docs_page", "api.list_forms"})
PERMISSIONS = {
    "api.post_submission": "submit",
    "api.post_batch": "submit",
    "api.get_submission": "read_submission",
    "api.post_review": "review",
    "metrics": "operate",
    "audit.audit_entries": "audit",
}


def create_app(
    settings: Settings | None = None, intake: Intake | None = None, access_store: AccessStore | None = None
) -> Flask:
    """Application factory: ``flask --app services.intake.entrypoints.app run`` or ``score run``."""
    settings = settings or from_env()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["score.intake"] = intake or bootstrap(settings)
    weblog.init_app(app)
    access_web.init_app(
        app, access_store or access_bootstrap(settings), settings, public=PUBLIC, permissions=PERMISSIONS
    )
    app.register_blueprint(api)
    app.register_blueprint(access_web.audit_blueprint())

    from services.intake.entrypoints.docs import docs

    app.register_blueprint(docs)

    @app.get("/healthz")
    def healthz() -> Any:
        return {"status": "ok"}

    @app.get("/metrics")
    def metrics() -> Any:
        """Outbox backlog, oldest unpublished age and what has been published (JSON, for alerting); on the
        embedded default, where the outbox is the event log itself, the log's end and no backlog."""
        from services.eventlog.metrics import outbox_metrics

        intake: Intake = app.extensions["score.intake"]
        relay = app.extensions.get("score.relay")  # set when the relay runs in this process (`score run`)
        return outbox_metrics(intake.engine, relay, relayed=intake.settings.uses_kafka)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        """Werkzeug's refusals (413, 404, 405, ...) in the API's error shape and language."""
        code = (exc.name or "error").lower().replace(" ", "_")
        message = _HTTP_MESSAGES.get(exc.code or 0, {"en": exc.description or exc.name})
        if exc.code == 413:
            limit = settings.max_request_bytes
            message = {k: v.format(limit=limit) for k, v in message.items()}
        resp = _error(exc.code or 500, code, message)
        for name, value in exc.get_headers():
            if name.lower() != "content-type":  # keep Allow (405) and the like; the body is ours
                resp.headers[name] = value
        return resp

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        # A fault on our side (database down, bug): log it with the stack, answer without one.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error(
            503 if _is_db_outage(exc) else 500,
            "internal_error",
            {
                "en": "the service could not store this now; please retry later",
                "zh": "服务暂时无法保存，请稍后重试",
            },
        )

    return app


#: Werkzeug's own refusals, in both languages (its descriptions are English only).
_HTTP_MESSAGES: dict[int, dict[str, str]] = {
    400: {"en": "the request could not be understood", "zh": "无法理解该请求"},
    404: {"en": "there is nothing at this address", "zh": "此地址没有对应的资源"},
    405: {"en": "this address does not take this method", "zh": "此地址不支持该请求方法"},
    413: {
        "en": "the request body is larger than {limit} bytes; send fewer submissions at once",
        "zh": "请求体超过 {limit} 字节，请分批发送",
    },
}


def _is_db_outage(exc: Exception) -> bool:
    from sqlalchemy.exc import OperationalError

    return isinstance(exc, OperationalError)
