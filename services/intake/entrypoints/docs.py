"""OpenAPI 3.1 description of the intake API and a browsable page for it.

The request schemas are the form contracts themselves: ``jsonschema_export.document`` turns the marshmallow
form classes into JSON Schema 2020-12, which OpenAPI 3.1 embeds as is.  apispec assembles the document.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from apispec import APISpec
from flask import Blueprint, jsonify, render_template

from services.access.web import csp_allow_data_images, csp_nonce
from services.common.openapi import ERROR_SCHEMA, listing, new_spec, operation, refusals
from services.intake.domain.attachments import RECOGNISED
from services.intake.domain.model import HAZARD_STATUSES, REVIEW_DECISIONS
from services.intake.entrypoints.jsonbody import MAX_DEPTH
from services.intake.entrypoints.review_request import COMMENT_MAX, REVIEWER_MAX, SUBMISSION_ID
from services.intake.forms.jsonschema_export import REPO_ROOT, document
from services.intake.forms.registry import FORMS

docs = Blueprint("docs", __name__, url_prefix="/api/v1")

#: the example corpus (schemas/README.md); its valid bodies are the request examples of the docs
EXAMPLES = REPO_ROOT / "schemas" / "examples"


def request_examples(root: Path = EXAMPLES) -> dict[str, Any]:
    """Every valid example of the corpus as a named OpenAPI example (``<form>.<file name>``), so the docs
    page offers real bodies to start from.  None when the corpus is not beside the code (an installed
    package without the repository): the document is then the same less its examples."""
    named: dict[str, Any] = {}
    for path in sorted(root.glob("*/valid/*.json")):
        body = json.loads(path.read_text(encoding="utf-8"))
        example: dict[str, Any] = {
            "summary": f"{path.parts[-3]}: {path.stem.replace('_', ' ')}",
            "value": body,
        }
        if "photos" in json.dumps(body):
            example["description"] = (
                "Names evidence photos: upload each first (PUT /api/v1/attachments/{id}) with the same credential, "
                "or this body is refused with 422 unknown_attachment."
            )
        named[f"{path.parts[-3]}.{path.stem}"] = example
    return named


def _json(schema_ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}


def _stored_or_retried(schema_ref: str, *, stored: str, retried: str) -> dict[str, Any]:
    """The answers of an idempotent create: 201 when stored, 200 with the same body when it was a retry."""
    return {
        "201": {"description": stored, "content": _json(schema_ref)},
        "200": {"description": retried, "content": _json(schema_ref)},
    }


def _json_request(schema: dict[str, Any], examples: dict[str, Any] | None = None) -> dict[str, Any]:
    """A required JSON request body of ``schema``, with the named examples the docs page offers, if any."""
    body: dict[str, Any] = {"schema": schema, **({"examples": examples} if examples else {})}
    return {"required": True, "content": {"application/json": body}}


def _uuid_in_path(name: str, description: str) -> dict[str, Any]:
    """A path parameter that is a UUID, in either case (the pattern submission ids are checked with)."""
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "pattern": f"^{SUBMISSION_ID.pattern}$"},
    }


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: f"Not one JSON value: not UTF-8 JSON (`malformed_json`) or nested deeper than {MAX_DEPTH} levels "
        "(`nesting_too_deep`)",
        404: "Unknown submission",
        409: "Conflict (id or review_id reused with other content, version already replaced)",
        413: "Body larger than SCORE_MAX_REQUEST_BYTES, or a batch longer than SCORE_BATCH_LIMIT",
        415: "Not application/json",
        422: "Invalid: every error with its field path (including `duplicate_key` and `invalid_unicode`, "
        "a lone UTF-16 surrogate, anywhere in the body)",
        503: "The database is unavailable; nothing was stored, retry later",
    }
    return {str(c): {"description": text[c], "content": _json("Error")} for c in codes}


@cache
def openapi() -> dict[str, Any]:
    spec = new_spec(
        "SCORE intake API",
        "Field submissions for the ILO SCORE work-safety pilot (MEM, Zhejiang). Every "
        "operation but the form list needs a bearer token (`score tokens create`); a collector posts "
        "for its districts and those below, a reviewer reads and reviews them, a public survey link "
        "posts worker surveys for its one district. The collector and the reviewer recorded are the "
        "credential's account, whatever the body says. Rate limits per credential and per address (429).",
    )
    refs = []
    for form, versions in FORMS.items():
        for version, cls in versions.items():
            name = f"{form}.v{version}"
            body = document(cls)
            body.pop("$schema", None)
            body.pop("$id", None)
            spec.components.schema(name, body)
            refs.append({"$ref": f"#/components/schemas/{name}"})
    spec.components.schema("Submission", {"oneOf": refs})
    spec.components.schema(
        "Receipt",
        {
            "type": "object",
            "required": ["submission_id", "form", "form_version", "district", "received_at", "content_hash"],
            "properties": {
                "submission_id": {"type": "string", "format": "uuid"},
                "form": {"type": "string"},
                "form_version": {"type": "integer"},
                "district": {"type": "string"},
                "received_at": {"type": "string"},
                "content_hash": {"type": "string"},
                "replaces": {"type": ["string", "null"]},
                "computed": {"type": "object"},
            },
        },
    )
    spec.components.schema(
        "ReviewReceipt",
        {
            "type": "object",
            "required": ["submission_id", "review_status", "seq"],
            "properties": {
                "submission_id": {"type": "string", "format": "uuid"},
                "review_status": {"enum": ["approved", "has_issues", "rejected"]},
                "seq": {"type": "integer", "minimum": 1, "description": "n-th review of this version"},
                "review_id": {"type": "string", "format": "uuid", "description": "when the request had one"},
            },
        },
    )
    spec.components.schema(
        "BatchResult",
        {
            "type": "object",
            "required": ["accepted", "rejected", "results"],
            "properties": {
                "accepted": {"type": "integer"},
                "rejected": {"type": "integer"},
                "results": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "description": "the item's status and its receipt (2xx) or error (4xx, 503)",
                        "required": ["index", "status"],
                        "properties": {
                            "index": {"type": "integer"},
                            "status": {"type": "integer"},
                            "receipt": {"$ref": "#/components/schemas/Receipt"},
                            "error": ERROR_SCHEMA["properties"]["error"],
                        },
                    },
                },
            },
        },
    )
    spec.components.schema(
        "SubmissionHistory",
        {
            "type": "object",
            "required": ["submission_id", "form", "current", "review", "versions"],
            "properties": {
                "submission_id": {"type": "string"},
                "form": {"type": "string"},
                "current": {"type": "boolean"},
                "superseded_by": {"type": ["string", "null"]},
                "review": {"type": "object", "required": ["status", "history"]},
                "versions": {"type": "array", "items": {"type": "object"}},
            },
        },
    )
    lang = {
        "name": "Accept-Language",
        "in": "header",
        "description": "the language of error messages: Chinese (zh-CN) unless English is preferred",
        "schema": {"type": "string", "examples": ["en", "zh-CN", "en-US,en;q=0.9"]},
    }
    id_param = _uuid_in_path("submission_id", "a submission's UUID (either case); anything else is 404")
    examples = request_examples()
    operation(
        spec,
        "post",
        "/api/v1/submissions",
        summary="Submit one form (idempotent by submission_id)",
        responses={
            **_stored_or_retried(
                "Receipt",
                stored="Stored; the receipt",
                retried="A retry of a stored submission; the original receipt",
            ),
            **_errors(400, 409, 413, 415, 422, 503),
            **refusals(
                401,
                403,
                429,
                described={
                    403: "Outside the credential's forms or districts: the district filed under, for a "
                    "correction also the district of the submission it replaces, for a rectification "
                    "the district of its inspection",
                },
            ),
        },
        parameters=[lang],
        requestBody=_json_request({"$ref": "#/components/schemas/Submission"}, examples),
    )
    operation(
        spec,
        "post",
        "/api/v1/submissions/batch",
        summary="Submit an offline queue; each item is accepted or rejected on its own",
        responses={
            "207": {
                "description": "Per-item status and receipt or errors",
                "content": _json("BatchResult"),
            },
            **_errors(400, 413, 415, 422, 503),
            **refusals(401, 403, 429),
        },
        parameters=[lang],
        requestBody=_json_request(
            {
                "type": "object",
                "required": ["submissions"],
                "properties": {
                    "submissions": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"$ref": "#/components/schemas/Submission"},
                    }
                },
            },
            {
                "the_corpus": {
                    "summary": "every valid example of schemas/examples in one batch",
                    "value": {"submissions": [e["value"] for e in examples.values()]},
                }
            }
            if examples
            else None,
        ),
    )
    operation(
        spec,
        "get",
        "/api/v1/submissions/{submission_id}",
        summary="A submission with its versions and review state",
        responses={
            "200": {"description": "The submission", "content": _json("SubmissionHistory")},
            **_errors(404, 503),
            **refusals(401, 403, 429),
        },
        parameters=[id_param, lang],
        description="For reviewers of its district (or one above). A worker survey comes without "
        "its answers (`data`, `computed`) and with `answers_withheld: true`: raw survey answers are "
        "readable by no one through the API, only the published aggregates.",
    )
    operation(
        spec,
        "post",
        "/api/v1/submissions/{submission_id}/review",
        summary="Approve, flag or reject the current version (a rejection needs a comment)",
        responses={
            "200": {
                "description": "Recorded, or a retry of a review recorded under the same review_id",
                "headers": {
                    "Idempotent-Replayed": {
                        "description": "`true` when this is the original answer to an earlier attempt",
                        "schema": {"type": "string", "enum": ["true"]},
                    }
                },
                "content": _json("ReviewReceipt"),
            },
            **_errors(400, 404, 409, 413, 415, 422, 503),
            **refusals(401, 403, 429),
        },
        parameters=[id_param, lang],
        description="Idempotent by `review_id`: a client mints one UUID per review and sends it again on every "
        "retry of that review. The same `review_id` with the same content is answered 200 with "
        "the original answer (header `Idempotent-Replayed: true`), recorded and announced once; "
        "the same `review_id` with other content (or for another submission) is 409 "
        "`review_id_reused`. `review_id` is optional so that older clients keep working, but a "
        "review sent without it is **not retry-safe**: a retry records a second review.",
        requestBody=_json_request(
            {
                "type": "object",
                "required": ["status"],
                "properties": {
                    "status": {"enum": list(REVIEW_DECISIONS)},
                    "reviewer": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": REVIEWER_MAX,
                        "description": "Optional, for older clients: the reviewer recorded "
                        "is the credential's account; a name sent here is only compared "
                        "when the same review_id comes again",
                    },
                    "comment": {"type": "string", "maxLength": COMMENT_MAX},
                    "review_id": {
                        "type": "string",
                        "format": "uuid",
                        "pattern": f"^{SUBMISSION_ID.pattern}$",
                        "description": "The client's idempotency key for this review",
                    },
                },
            }
        ),
    )
    _attachment_paths(spec, lang)
    _hazard_paths(spec, lang)
    operation(
        spec,
        "get",
        "/api/v1/forms",
        summary="The forms and versions a device may submit",
        responses={
            **refusals(429),
            "200": listing("List", "forms"),
        },
        public=True,
    )
    operation(
        spec,
        "get",
        "/api/v1/audit",
        summary="The audit log, newest first (admins)",
        responses={
            "200": {
                "description": "Entries",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["entries"],
                            "properties": {
                                "entries": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["id", "at", "actor", "action"],
                                        "properties": {
                                            "id": {"type": "integer"},
                                            "at": {"type": "string"},
                                            "actor": {"type": "string"},
                                            "token_id": {"type": ["string", "null"]},
                                            "action": {"type": "string"},
                                            "target": {"type": ["string", "null"]},
                                            "district": {"type": ["string", "null"]},
                                            "address": {"type": ["string", "null"]},
                                            "request_id": {"type": ["string", "null"]},
                                            "detail": {"type": ["object", "null"]},
                                        },
                                    },
                                }
                            },
                        }
                    }
                },
            },
            "400": {
                "description": "A filter that is not as described; `errors[0].path` names it",
                "content": _json("Error"),
            },
            **_errors(503),
            **refusals(401, 403, 429),
        },
        parameters=[
            lang,
            {"name": "actor", "in": "query", "schema": {"type": "string"}},
            {"name": "action", "in": "query", "schema": {"type": "string"}},
            {
                "name": "since",
                "in": "query",
                "description": "from this instant (inclusive), ISO 8601 with its offset",
                "schema": {"type": "string", "format": "date-time"},
            },
            {
                "name": "until",
                "in": "query",
                "description": "up to this instant (exclusive), ISO 8601 with its offset",
                "schema": {"type": "string", "format": "date-time"},
            },
            {
                "name": "limit",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
            },
            {
                "name": "before_id",
                "in": "query",
                "description": "the next page: entries older than this id",
                "schema": {"type": "integer", "minimum": 1},
            },
        ],
        description="Who did what and when: submission.create, submission.correct, "
        "rectification.create, review.create, report.export, report.read (integrators), "
        "token.create, token.revoke, session.login. Append-only: the database refuses to change "
        "or delete an entry.",
    )
    return spec.to_dict()


#: the image types an attachment may be (SCORE_ATTACHMENT_TYPES may allow fewer)
_IMAGE = {t: {"schema": {"type": "string", "format": "binary"}} for t in RECOGNISED}


def _attachment_paths(spec: APISpec, lang: dict[str, Any]) -> None:
    spec.components.schema(
        "AttachmentReceipt",
        {
            "type": "object",
            "required": ["attachment_id", "sha256", "content_type", "size"],
            "properties": {
                "attachment_id": {"type": "string", "format": "uuid"},
                "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "of the bytes"},
                "content_type": {"enum": list(RECOGNISED)},
                "size": {"type": "integer", "minimum": 1, "description": "bytes"},
            },
        },
    )
    param = _uuid_in_path(
        "attachment_id", "the photo's UUID, minted on the device once per photo (either case)"
    )
    error = _json("Error")
    path = "/api/v1/attachments/{attachment_id}"
    operation(
        spec,
        "put",
        path,
        summary="Upload an evidence photo (idempotent by attachment_id), before the record naming it",
        description="The body is the image's bytes, its type the Content-Type (JPEG, PNG or WebP; "
        "`SCORE_ATTACHMENT_TYPES`). The type is recognised from the bytes, and the image must be "
        "whole. A record then names the photo by its id in a `photos` list (a failed item's hazard, a "
        "rectification); only the uploading account may name it. Collectors only.",
        parameters=[param, lang],
        requestBody={"required": True, "content": _IMAGE},
        responses={
            **_stored_or_retried(
                "AttachmentReceipt",
                stored="Stored",
                retried="The same id and bytes again (a retry): the original answer",
            ),
            "409": {
                "description": "`attachment_id_reused`: the id was stored with other bytes",
                "content": error,
            },
            "413": {
                "description": "`attachment_too_large`: more than SCORE_ATTACHMENT_MAX_BYTES (5 MiB)",
                "content": error,
            },
            "415": {
                "description": "`attachment_type`: not an allowed image type; `attachment_content`: "
                "the bytes are not a whole image of that type (empty, cut off, another type)",
                "content": error,
            },
            "422": {"description": "The attachment_id is not a UUID", "content": error},
            **_errors(503),
            **refusals(401, 403, 429),
        },
    )
    operation(
        spec,
        "get",
        path,
        summary="An evidence photo's bytes",
        description="For the account that uploaded it, and for reviewers of a district whose "
        "records (any version) name it.",
        parameters=[param, lang],
        responses={
            "200": {
                "description": "The bytes as uploaded",
                "headers": {
                    "ETag": {"description": "the SHA-256 of the bytes", "schema": {"type": "string"}}
                },
                "content": _IMAGE,
            },
            "404": {"description": "`attachment_not_found`", "content": error},
            **_errors(503),
            **refusals(401, 403, 429),
        },
    )


def _hazard_paths(spec: APISpec, lang: dict[str, Any]) -> None:
    day = {"type": "string", "format": "date"}
    spec.components.schema(
        "Hazard",
        {
            "type": "object",
            "required": [
                "hazard_id",
                "inspection_id",
                "item_code",
                "district",
                "enterprise",
                "category",
                "severity",
                "finding",
                "deadline",
                "found_on",
                "rectified_on",
                "rectification_id",
            ],
            "properties": {
                "hazard_id": {"type": "string", "description": "`<inspection_id>:<item_code>`"},
                "inspection_id": {
                    "type": "string",
                    "format": "uuid",
                    "description": "the newest version of the inspection that found it: what a rectification names",
                },
                "item_code": {"type": "string"},
                "district": {"type": "string"},
                "enterprise": {
                    "type": "object",
                    "required": ["credit_code", "name"],
                    "properties": {"credit_code": {"type": "string"}, "name": {"type": "string"}},
                },
                "category": {"type": "string"},
                "severity": {"enum": ["general", "major"]},
                "finding": {"type": "string"},
                "deadline": day,
                "found_on": day,
                "rectified_on": {
                    "type": ["string", "null"],
                    "format": "date",
                    "description": "the counting rectification's day; null while open",
                },
                "rectification_id": {"type": ["string", "null"], "format": "uuid"},
            },
        },
    )
    operation(
        spec,
        "get",
        "/api/v1/hazards",
        summary="The hazards of the credential's districts still to rectify (collectors)",
        description="Hazards the newest version of an inspection found (a rejected inspection's "
        "count nowhere) in the credential's districts and those below, without a counting "
        "rectification (the newest version of one, not rejected): what a rectification may still "
        "close. Soonest deadline first; a deadline before today is overdue. `status=all` adds "
        "the rectified ones, last, with `rectified_on`.",
        parameters=[
            lang,
            {"name": "status", "in": "query", "schema": {"enum": list(HAZARD_STATUSES), "default": "open"}},
        ],
        responses={
            "200": {
                "description": "The hazards",
                "content": {
                    "application/json": {
                        "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Hazard"}}
                    }
                },
            },
            "400": {
                "description": "A status other than open or all (`errors[0].path` `status`)",
                "content": _json("Error"),
            },
            **_errors(503),
            **refusals(401, 403, 429),
        },
    )


@docs.get("/openapi.json")
def openapi_json() -> Any:
    return jsonify(openapi())


@docs.get("/docs")
def docs_page() -> Any:
    """Swagger UI (swagger-ui-dist, served from static/build/vendor/ by ``make web``) over openapi.json; its
    script and style run under the Content-Security-Policy's per-response nonce."""
    csp_allow_data_images()  # Swagger UI's icons are data: SVGs in its style sheet
    return render_template("apidocs.html", nonce=csp_nonce())
