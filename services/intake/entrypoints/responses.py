"""The intake's error answers: the language asked for, and the HTTP status of each domain rule.

Every error goes out in the one body both services share (``services.common.errorbody``), in Chinese by
default or English by ``Accept-Language``; domain errors are worded by the error catalogue
(``services.intake.forms.errors``).  This is the only place that knows which status a rule maps to.
"""

from __future__ import annotations

from typing import Any

from flask import Response

from services.common.errorbody import error_body, error_response
from services.common.webapp import lang
from services.intake.domain import errors as rules
from services.intake.domain.errors import DomainError
from services.intake.forms.errors import FieldError, render

#: domain rule -> HTTP status: 409 when the request clashes with what is stored (a retry with other content,
#: a version already replaced or a hazard already rectified, a race lost), 404 when it names nothing, 413 and
#: 415 for a photo too large or not of an allowed image type, 422 for every other rule a well-formed request
#: breaks
STATUS: dict[str, int] = {
    rules.ID_REUSED: 409,
    rules.ALREADY_REPLACED: 409,
    rules.REPLACES_OTHER_FORM: 422,
    rules.UNKNOWN_SUBMISSION: 422,
    rules.UNKNOWN_INSPECTION: 422,
    rules.UNKNOWN_HAZARD: 422,
    rules.RECTIFIED_BEFORE_FOUND: 422,
    rules.ALREADY_RECTIFIED: 409,
    rules.INVALID_CHOICE: 422,
    rules.COMMENT_REQUIRED: 422,
    rules.NOT_CURRENT: 409,
    rules.REVIEW_ID_REUSED: 409,
    rules.CONCURRENT_REVIEW: 409,
    rules.NOT_FOUND: 404,
    # evidence photos: the upload's own refusals speak HTTP's words for them (RFC 9110: 413, 415)
    rules.ATTACHMENT_TYPE: 415,
    rules.ATTACHMENT_TOO_LARGE: 413,
    rules.ATTACHMENT_CONTENT: 415,
    rules.ATTACHMENT_ID_REUSED: 409,
    rules.UNKNOWN_ATTACHMENT: 422,
    rules.ATTACHMENT_NOT_FOUND: 404,
}

INVALID_SUBMISSION = {"en": "the submission is not valid", "zh": "提交内容未通过校验"}
INVALID_REVIEW = {"en": "the review is not valid", "zh": "审核内容未通过校验"}


def text(message: dict[str, str]) -> str:
    return message.get(lang()) or message.get("en", "")


def error(
    status: int, code: str, message: dict[str, str], errors: list[dict[str, str]] | None = None
) -> Response:
    return error_response(status, code, text(message) or code, errors)


def field_error(e: FieldError) -> dict[str, str]:
    return {"path": e.path, "code": e.code, "message": text(e.message)}


def invalid_body(errors: list[FieldError], message: dict[str, str] = INVALID_SUBMISSION) -> dict[str, Any]:
    """422's body: every rule the request broke, each at its path."""
    return error_body("invalid", text(message), [field_error(e) for e in errors])


def domain_error(exc: DomainError) -> tuple[int, dict[str, Any]]:
    """A broken domain rule as (status, body); a rule about one field lists it at its path."""
    message = render(exc.code, exc.params)
    errors = [field_error(FieldError(exc.path, exc.code, message))] if exc.path else None
    return STATUS[exc.code], error_body(exc.code, text(message), errors)
