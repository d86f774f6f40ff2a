"""The intake's HTTP API: request -> validation -> use case -> status code.  No rules live here."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import orjson
from flask import Blueprint, Flask, Response, current_app, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from services.access import AccessStore, Denied
from services.access import bootstrap as access_bootstrap
from services.access import web as access_web
from services.common import prom
from services.common.codes import covered
from services.common.config import Settings, from_env
from services.common.webapp import lang, make_flask_app
from services.eventlog.metrics import outbox_families, outbox_metrics
from services.intake import forms
from services.intake.bootstrap import Intake, bootstrap
from services.intake.domain import attachments
from services.intake.domain import errors as rules
from services.intake.domain.errors import DomainError
from services.intake.domain.model import HAZARD_STATUSES
from services.intake.entrypoints import jsonbody
from services.intake.entrypoints import webapp as forms_app
from services.intake.entrypoints.docs import docs
from services.intake.entrypoints.responses import (
    INVALID_REVIEW,
    domain_error,
    error,
    field_error,
    invalid_body,
    text,
)
from services.intake.entrypoints.review_request import SUBMISSION_ID, review_errors
from services.intake.entrypoints.webapp import webapp
from services.intake.forms.errors import make
from services.intake.forms.formats import UUID
from services.intake.service_layer import access, batch, handlers

log = logging.getLogger(__name__)
api = Blueprint("api", __name__, url_prefix="/api/v1")


def _intake() -> Intake:
    intake: Intake = current_app.extensions["score.intake"]
    return intake


@api.after_request
def _content_language(response: Response) -> Response:
    response.headers["Content-Language"] = "zh-CN" if lang() == "zh" else "en"
    return response


def _json_body() -> Any:
    """The parsed body, or an error response for the wrong media type or a body that is not one JSON value.

    What is refused here is refused for the body as a whole (400): not UTF-8 JSON, or nested deeper than
    any form needs.  Duplicate keys and lone surrogates are found afterwards, with their paths
    (:func:`_ambiguities`), so that a batch can refuse only the items that hold them.
    """
    if not request.mimetype or request.mimetype != "application/json":
        return error(
            415,
            "unsupported_media_type",
            {"en": "send the body as application/json", "zh": "请求体必须是 application/json"},
        )
    raw = request.get_data(cache=False)
    try:
        body, g.json_body_clean = jsonbody.read(raw)
    except jsonbody.Unreadable as exc:
        return error(400, exc.code, exc.message)
    return body


def _problems(body: Any) -> list[jsonbody.Problem]:
    """:func:`jsonbody.problems` of the request's body, without walking it when parsing showed it has none."""
    return [] if g.get("json_body_clean") else jsonbody.problems(body)


def _ambiguities(problems: list[jsonbody.Problem], drop: int = 0) -> tuple[int, dict[str, Any]] | None:
    """422 with every duplicate key and lone surrogate by path, or None when there is none."""
    if not problems:
        return None
    return 422, invalid_body([p.field_error(drop) for p in problems])


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
        uow = intake.uow()
        entry = (access.audit_action(valid), valid.submission_id, valid.district, None)
        # The audit entry in the transaction that stores the submission (the use case commits only then):
        # it stands or falls with it, and a first version is stored in one statement with it
        audited_with = access_web.shares_database(intake.engine)
        if audited_with:
            uow.audit_with_commit(access_web.audit_rows([entry]))
        receipt = handlers.submit(uow, valid, intake.clock)
    except forms.Invalid as exc:
        return 422, invalid_body(exc.errors)
    except Denied as exc:
        return 403, access_web.denied(exc).get_json()
    except DomainError as exc:
        return domain_error(exc)
    if receipt.created and not audited_with:
        access_web.audit_many([entry])
    return (201 if receipt.created else 200), receipt.body


def _submit_items(
    items: list[Any], by_item: dict[int, list[jsonbody.Problem]]
) -> list[tuple[int, dict[str, Any]]]:
    """A batch's items: each validated on its own, the valid ones stored together (service_layer.batch)."""
    intake = _intake()
    answers: dict[int, tuple[int, dict[str, Any]]] = {}
    valid: dict[int, forms.ValidSubmission] = {}
    # what every item is judged with, read once: the request's moment, the caller, a unit of work for the
    # access checks that read (each its own transaction)
    now, skew = intake.clock(), timedelta(seconds=intake.settings.clock_skew_seconds)
    principal, uow = access_web.principal(), intake.uow()
    for i, item in enumerate(items):
        refused = _ambiguities(by_item[i], drop=2) if i in by_item else None
        if refused:
            answers[i] = refused
            continue
        try:
            checked = forms.validate(item, now=now, clock_skew=skew)
            # access, item by item as for a single submission: the credential names the collector and bounds
            # the forms and districts (a rectification of an inspection earlier in this batch: that one's)
            checked = access.as_submitted_by(principal, checked)
            access.check_submission(uow, principal, checked)
            valid[i] = checked
        except forms.Invalid as exc:
            answers[i] = (422, invalid_body(exc.errors))
        except Denied as exc:
            answers[i] = (403, access_web.denied(exc).get_json())
    # Each stored item is audited.  Where the audit log shares the intake's database, in the transaction that
    # stores it (a run of first versions: in its one statement), so the entry stands or falls with the item
    # and costs no statement of its own; elsewhere all in one statement afterwards.
    audit_with = access_web.shares_database(intake.engine)
    audit = (lambda vs: access_web.audit_rows([_audit_entry(v) for v in vs])) if audit_with else None
    audited: list[tuple[str, str | None, str | None, dict[str, Any] | None]] = []
    for i, outcome in zip(
        valid, batch.submit_all(intake.uow, list(valid.values()), intake.clock, audit), strict=True
    ):
        if isinstance(outcome, DomainError):
            answers[i] = domain_error(outcome)
        else:
            answers[i] = (201 if outcome.created else 200, outcome.body)
            if outcome.created and not audit_with:
                audited.append(_audit_entry(valid[i]))
    access_web.audit_many(audited)
    return [answers[i] for i in range(len(items))]


def _audit_entry(valid: forms.ValidSubmission) -> tuple[str, str | None, str | None, dict[str, Any] | None]:
    """The audit entry of storing ``valid`` (``access_web.audit_many``)."""
    return (access.audit_action(valid), valid.submission_id, valid.district, None)


@api.post("/submissions")
def post_submission() -> Any:
    body = _json_body()
    if isinstance(body, Response):
        return body
    status, payload = _ambiguities(_problems(body)) or _submit_one(body)
    resp = _json(payload, status)
    if status in (200, 201):
        resp.headers["Location"] = f"/api/v1/submissions/{payload['submission_id']}"
    return resp


@api.post("/submissions/batch")
def post_batch() -> Any:
    """An offline queue flushed at once: each item stands or falls on its own (service_layer.batch)."""
    body = _json_body()
    if isinstance(body, Response):
        return body
    limit = _intake().settings.batch_limit
    # A problem outside the items (two "submissions" keys, say) is the batch's; one inside an item is that
    # item's alone, reported with the item's own paths like any other error of it.
    by_item: dict[int, list[jsonbody.Problem]] = {}
    outside: list[jsonbody.Problem] = []
    for p in _problems(body):
        if len(p.parts) > 1 and p.parts[0] == "submissions" and isinstance(p.parts[1], int):
            by_item.setdefault(p.parts[1], []).append(p)
        else:
            outside.append(p)
    refused = _ambiguities(outside)
    if refused:
        return jsonify(refused[1]), refused[0]
    items = body.get("submissions") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        return error(
            422,
            "invalid",
            {
                "en": 'expected {"submissions": [...]} with at least one item',
                "zh": '请求体应为 {"submissions": [...]}，且至少包含一项',
            },
            [{"path": "submissions", "code": "required", "message": "expected a non-empty list"}],
        )
    if len(items) > limit:
        return error(
            413,
            "batch_too_large",
            {
                "en": f"at most {limit} submissions per batch, got {len(items)}",
                "zh": f"每批最多 {limit} 份提交，收到 {len(items)} 份",
            },
        )
    results = []
    for i, (status, payload) in enumerate(_submit_items(items, by_item)):
        results.append({"index": i, "status": status, **({"receipt": payload} if status < 300 else payload)})
    accepted = sum(1 for r in results if r["status"] < 300)
    answer = {"accepted": accepted, "rejected": len(results) - accepted, "results": results}
    return _json(answer, 207)


def _json(payload: dict[str, Any], status: int) -> Response:
    """``payload`` as jsonify would answer it (keys sorted, compact, one JSON value per line), written by orjson
    in a fifth of the time: a batch's answer cost ~6 us an item, a receipt ~45 us.  Receipts, batch answers
    and error bodies hold JSON values only (strings, numbers, lists, dicts), where the two write the same
    value (orjson keeps non-ASCII characters as UTF-8 where jsonify escapes them: other text, same value)."""
    return current_app.response_class(
        orjson.dumps(payload, option=orjson.OPT_SORT_KEYS) + b"\n", status=status, mimetype="application/json"
    )


def _domain_error_response(exc: DomainError) -> Response:
    status, body = domain_error(exc)
    resp = jsonify(body)
    resp.status_code = status
    return resp


def _no_such_submission(submission_id: str) -> Response:
    """404 for an id that is not a UUID: it cannot name a stored submission (the database never sees it)."""
    return _domain_error_response(DomainError(rules.NOT_FOUND, submission_id=submission_id[:64]))


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
        return _domain_error_response(exc)


@api.post("/submissions/<submission_id>/review")
def post_review(submission_id: str) -> Any:
    """Record a review.  With a ``review_id`` (a UUID the client mints once per review and keeps for its
    retries) the same review again is answered 200 with the original answer and stored once; the same id with
    other content is 409.  Without one a retry records a second review: old clients still work, but are not
    retry-safe."""
    body = _json_body()
    if isinstance(body, Response):
        return body
    errors = review_errors(body)
    if errors:
        return error(422, "invalid", INVALID_REVIEW, [field_error(e) for e in errors])
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
        return _domain_error_response(exc)
    resp = jsonify(receipt.body)
    if receipt.replayed:
        # As payment APIs do: tell a client (and its logs) that this answer is a replay, nothing new happened.
        resp.headers["Idempotent-Replayed"] = "true"
    else:
        access_web.audit(
            "review.create",
            target=receipt.body["submission_id"],
            district=district,
            detail=dict(receipt.body),
        )
    return resp


@api.put("/attachments/<attachment_id>")
def put_attachment(attachment_id: str) -> Any:
    """An evidence photo, uploaded before the submission that names it: the raw bytes, its image type as
    Content-Type.  Idempotent by the device's id: 201 stored, 200 the same bytes again, 409 other bytes."""
    if not SUBMISSION_ID.fullmatch(attachment_id):
        return error(
            422,
            "invalid",
            {"en": "the attachment id is not valid", "zh": "附件编号无效"},
            [field_error(make("attachment_id", "invalid_format", expected=UUID))],
        )
    intake = _intake()
    try:  # a type that is not allowed is refused before its bytes are read, whatever their size
        attachments.check_type(request.mimetype or "", intake.settings.allowed_attachment_types)
    except DomainError as exc:
        return _domain_error_response(exc)
    limit = intake.settings.attachment_max_bytes
    # a photo may be larger than a JSON body (SCORE_MAX_REQUEST_BYTES): this request's own limit
    request.max_content_length = limit
    try:
        content = request.get_data(cache=False)
    except RequestEntityTooLarge:
        actual = str(request.content_length) if request.content_length is not None else f"> {limit}"
        return _domain_error_response(
            DomainError(rules.ATTACHMENT_TOO_LARGE, limit=str(limit), actual=actual)
        )
    who = access_web.principal()
    try:
        receipt = handlers.store_attachment(
            intake.uow(),
            attachment_id.lower(),
            request.mimetype or "",
            content,
            owner=who.name,
            allowed=intake.settings.allowed_attachment_types,
            max_bytes=limit,
            clock=intake.clock,
        )
    except DomainError as exc:
        return _domain_error_response(exc)
    if receipt.created:
        access_web.audit("attachment.create", target=receipt.body["attachment_id"], detail=receipt.body)
    resp = jsonify(receipt.body)
    resp.status_code = 201 if receipt.created else 200
    resp.headers["Location"] = f"/api/v1/attachments/{receipt.body['attachment_id']}"
    return resp


@api.get("/attachments/<attachment_id>")
def get_attachment(attachment_id: str) -> Any:
    """A photo's bytes, for its uploader's account or the reviewers of the districts of records naming it."""
    if not SUBMISSION_ID.fullmatch(attachment_id):
        return _domain_error_response(
            DomainError(rules.ATTACHMENT_NOT_FOUND, attachment_id=attachment_id[:64])
        )
    try:
        photo = handlers.get_attachment(_intake().uow(), attachment_id.lower())
        access.check_photo_read(access_web.principal(), photo)
    except Denied as exc:
        return access_web.denied(exc)
    except DomainError as exc:
        return _domain_error_response(exc)
    resp = Response(photo.content, mimetype=photo.attachment.content_type)
    resp.headers["ETag"] = f'"{photo.attachment.sha256}"'
    resp.headers["Content-Disposition"] = "inline"
    return resp


@api.get("/hazards")
def list_hazards() -> Any:
    """The hazards found in the credential's districts (and below) without a counting rectification, for a
    device's rectification screen; ``status=all`` adds the rectified ones with ``rectified_on``."""
    status = request.args.get("status", "open")
    if status not in HAZARD_STATUSES:
        message = {"en": "status must be open or all", "zh": "status 必须为 open 或 all"}
        return error(
            400, "invalid_query", message, [{"path": "status", "code": "invalid", "message": text(message)}]
        )
    who = access_web.principal()
    districts = sorted({code for d in who.districts for code in covered(d)})
    return jsonify(handlers.hazards(_intake().uow(), districts, rectified_too=status == "all"))


@api.get("/forms")
def list_forms() -> Any:
    return jsonify({"forms": forms.catalogue()})


front = Blueprint("front", __name__)


@front.get("/")
def front_door() -> Any:
    """The intake's front door: where a person finds the inspector app, the survey links and the API docs."""
    return render_template(
        "index.html",
        nonce=access_web.csp_nonce(),
        base=request.host_url.rstrip("/"),
        districts="杭州 Hangzhou · 金华 Jinhua · 永康 Yongkang",
    )


@front.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for it on every site: no icon, and no 404 in every page's console."""
    return Response(status=204)


#: access: who may call what (services/access/model.py has the roles behind each permission); "static" serves
#: the bundles of `make web` (scripts and styles, no data)
PUBLIC = (
    frozenset(
        {
            "healthz",
            "docs.openapi_json",
            "docs.docs_page",
            "api.list_forms",
            "front.front_door",
            "front.favicon",
            "static",
        }
    )
    | forms_app.PUBLIC
)
PERMISSIONS = {
    "api.post_submission": "submit",
    "api.post_batch": "submit",
    "api.get_submission": "read_submission",
    "api.post_review": "review",
    "api.put_attachment": "attach",
    "api.get_attachment": "read_attachment",
    "api.list_hazards": "read_hazards",
    "metrics": "operate",
    "metrics_json": "operate",
    "audit.audit_entries": "audit",
    **forms_app.PERMISSIONS,
}


def _figures(app: Flask) -> dict[str, Any]:
    """Outbox backlog, oldest unpublished age and what has been published; on the embedded default, where
    the outbox is the event log itself, the log's end and no backlog."""
    intake: Intake = app.extensions["score.intake"]
    relay = app.extensions.get("score.relay")  # set when the relay runs in this process (`score run`)
    return outbox_metrics(intake.engine, relay, relayed=intake.settings.uses_kafka)


def _metrics_routes(app: Flask) -> None:
    """``/metrics`` (Prometheus text: requests of every worker, and the outbox figures) and ``/metrics.json``
    (the same figures as JSON)."""

    @app.get("/metrics")
    def metrics() -> Response:
        settings = app.extensions["score.intake"].settings
        return prom.response(settings.prometheus_multiproc_dir, lambda: outbox_families(_figures(app)))

    @app.get("/metrics.json")
    def metrics_json() -> Any:
        return _figures(app)


def create_app(
    settings: Settings | None = None, intake: Intake | None = None, access_store: AccessStore | None = None
) -> Flask:
    """Application factory: ``flask --app services.intake.entrypoints.app run`` or ``score run``."""
    settings = settings or from_env()
    intake = intake or bootstrap(settings)
    if access_store is None:
        # Credentials and the audit log in the intake's own PostgreSQL database: through the intake's pool,
        # which pings a connection only after it sat idle (PING_IDLE_AFTER).  An engine of its own pinged
        # on every checkout: two extra round trips in every request (the bearer check, the audit entry).
        # (The bearer check is one SELECT in autocommit there: AccessStore._token_row.)  SQLite keeps the
        # access store's own engines (its reads must not take the writer's lock).
        shared = settings.access_url == settings.intake_database_url and settings.access_url.startswith(
            "postgresql"
        )
        access_store = AccessStore(intake.engine) if shared else access_bootstrap(settings)
    app = make_flask_app(
        __name__,
        extensions={"score.intake": intake},
        blueprints=[front, api, docs, access_web.audit_blueprint(), webapp],
        log=log,
        http_message=_http_message,
        fault_message=lambda: text(_FAULT_MESSAGE),
        max_request_bytes=settings.max_request_bytes,
    )
    access_web.init_app(app, access_store, settings, public=PUBLIC, permissions=PERMISSIONS)

    _metrics_routes(app)
    return app


#: what a client is told when storing failed on our side (database down, a bug)
_FAULT_MESSAGE = {
    "en": "the service could not store this now; please retry later",
    "zh": "服务暂时无法保存，请稍后重试",
}

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


def _http_message(exc: HTTPException) -> str:
    """A Werkzeug refusal in the language asked for (413 names the limit)."""
    message = _HTTP_MESSAGES.get(exc.code or 0, {"en": exc.description or exc.name})
    if exc.code == 413:
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        message = {k: v.format(limit=limit) for k, v in message.items()}
    return text(message)
