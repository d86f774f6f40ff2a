"""The intake's access rules: which district a submission touches, and what a caller may see of it.

Kept apart from the handlers on purpose: the rules ask the unit of work where things are filed, and the
entrypoint calls them before a use case runs.  A stored submission's district never changes (a correction
is a new row), so checking it before the use case's own transaction cannot be raced into a wrong answer.
"""

from __future__ import annotations

from typing import Any

from services.access import Denied, Principal
from services.intake.domain.model import RECTIFICATION
from services.intake.forms import ValidSubmission
from services.intake.service_layer.handlers import StoredPhoto
from services.intake.service_layer.unit_of_work import UnitOfWork


def _denied(what: dict[str, str], code: str, path: str = "district") -> Denied:
    return Denied(
        "out_of_scope",
        {
            "en": f"this credential may not {what['en']} district {code}",
            "zh": f"此凭证无权{what['zh']}行政区划 {code}",
        },
        path=path,
    )


_SUBMIT = {"en": "submit for", "zh": "提交"}
_TOUCH = {"en": "change records of", "zh": "更改以下区划的记录："}


def as_submitted_by(principal: Principal, valid: ValidSubmission) -> ValidSubmission:
    """The submission as the credential's account sent it: ``collector.id`` is the account's name.

    The body's ``collector.id`` is what a device says about itself; the credential is what the server knows.
    The role the collector acted in (inspector, trainer, enterprise) stays as the form states it.
    """
    return valid.with_collector({**valid.collector, "id": principal.name})


def check_submission(uow: UnitOfWork, principal: Principal, valid: ValidSubmission) -> None:
    """Refuse (:class:`Denied`) a submission outside the credential's forms or districts.

    Checked: the district it is filed under; for a correction, the district of the submission it replaces;
    for a rectification, the district of the inspection whose hazard it closes.  An id that names nothing is
    left to the use case, which answers it as it always has.
    """
    if not principal.may_submit_form(valid.form):
        raise Denied(
            "form_not_allowed",
            {
                "en": f"this credential may not submit {valid.form} forms",
                "zh": f"此凭证无权提交 {valid.form} 表单",
            },
            path="form",
        )
    if not principal.covers(valid.district, "submit"):
        raise _denied(_SUBMIT, valid.district)
    touched: list[tuple[str | None, str]] = []
    if valid.replaces:
        touched.append((district_of(uow, valid.replaces), "replaces"))
    if valid.form == RECTIFICATION:
        touched.append((district_of(uow, str(valid.data.get("inspection_id", ""))), "data.inspection_id"))
    for district, path in touched:
        if district is not None and not principal.covers(district, "submit"):
            raise _denied(_TOUCH, district, path)


def district_of(uow: UnitOfWork, submission_id: str) -> str | None:
    """The district a stored submission is filed under; None when there is no such submission."""
    with uow:
        found = uow.submissions.get(submission_id)
        return found.district if found is not None else None


def check_read(uow: UnitOfWork, principal: Principal, submission_id: str, permission: str) -> str | None:
    """Refuse reading or reviewing a submission filed outside the credential's districts; its district."""
    district = district_of(uow, submission_id)
    if district is not None and not principal.covers(district, permission):
        what = (
            {"en": "review records of", "zh": "审核"}
            if permission == "review"
            else {
                "en": "read records of",
                "zh": "查看",
            }
        )
        raise _denied(what, district, path="")
    return district


def check_photo_read(principal: Principal, photo: StoredPhoto) -> None:
    """Refuse a photo to all but its uploader's account and the reviewers of a district whose submissions
    (any version) name it: a photo is read where the record it is evidence for is read."""
    if photo.attachment.owner == principal.name:
        return
    if any(principal.covers(d, "read_submission") for d in photo.districts):
        return
    raise Denied(
        "out_of_scope",
        {
            "en": "this credential may read only the photos its account uploaded, or those named by records "
            "of its districts",
            "zh": "此凭证只能查看本账号上传的照片，或其辖区记录所引用的照片",
        },
    )


#: fields of a worker survey that hold the answers, figures derived from one person's answers, or the
#: enterprise (one factory's survey figures are not published either)
_SURVEY_ANSWERS = ("data", "computed", "enterprise")


def redact(body: dict[str, Any]) -> dict[str, Any]:
    """A submission as the API shows it: a worker survey without its answers.

    Raw survey answers are readable by no one through the API; only the published aggregates (district x
    month cells of 5 respondents or more) carry them.  The envelope, the versions and the review stay.
    """
    if body.get("form") != "worker_survey":
        return body
    shown = {k: v for k, v in body.items() if k not in _SURVEY_ANSWERS}
    shown["answers_withheld"] = True
    return shown


def audit_action(valid: ValidSubmission) -> str:
    """The audit log's name for storing this submission."""
    if valid.replaces:
        return "submission.correct"
    if valid.form == RECTIFICATION:
        return "rectification.create"
    return "submission.create"


def review_requester(principal: Principal, stated: object) -> str:
    """What a review's retries are compared on: the credential and, for older clients, the name they sent.

    The reviewer recorded is always the credential's account; a ``reviewer`` in the body no longer decides it
    but is still part of the request, so the same ``review_id`` with another stated reviewer is a conflict.
    """
    return f"{principal.name}:{stated}" if isinstance(stated, str) and stated else principal.name
