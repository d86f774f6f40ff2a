"""The intake's use cases: submit (with retries and corrections), review (with retries), read back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from services.intake.domain.model import (
    Conflict,
    DomainError,
    NotFound,
    StoredReview,
    Submission,
    content_hash,
    iso,
    review_request_hash,
)
from services.intake.forms import ValidSubmission
from services.intake.service_layer.unit_of_work import UnitOfWork

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Receipt:
    created: bool  # False: a retry of a submission already stored (HTTP 200 instead of 201)
    body: dict[str, Any]


def submit(uow: UnitOfWork, valid: ValidSubmission, clock: Clock = utcnow) -> Receipt:
    """Store a validated submission and its event once, however often the client retries.

    Races are settled by the database, not by a check-then-insert: two identical posts racing both try to
    insert the same primary key, one loses with an IntegrityError and is answered from the winner's row.
    """
    digest = content_hash(valid.canonical())
    try:
        with uow:
            existing = uow.submissions.get(valid.submission_id)
            if existing is not None:
                return _retry_answer(existing, digest)
            sub = _new_submission(uow, valid, digest, clock)
            uow.submissions.add(sub)
            sub.announce_received()
            uow.commit()
            return Receipt(created=True, body=sub.receipt())
    except IntegrityError:
        with uow:
            existing = uow.submissions.get(valid.submission_id)
        if existing is not None:
            return _retry_answer(existing, digest)
        if valid.replaces:
            raise Conflict(
                "already_replaced",
                {
                    "en": f"submission {valid.replaces} was replaced by another correction meanwhile",
                    "zh": f"提交 {valid.replaces} 已被另一份更正替代",
                },
                path="replaces",
            ) from None
        raise


def _retry_answer(existing: Submission, digest: str) -> Receipt:
    if existing.content_hash == digest:
        return Receipt(created=False, body=existing.receipt())
    raise Conflict(
        "id_reused",
        {
            "en": f"submission {existing.id} was already received with different content; "
            "send a correction with a new id and replaces set instead",
            "zh": f"提交编号 {existing.id} 已用于内容不同的提交；如需更正，请使用新编号并填写 replaces",
        },
        path="submission_id",
    )


def _new_submission(uow: UnitOfWork, valid: ValidSubmission, digest: str, clock: Clock) -> Submission:
    enterprise = valid.enterprise
    computed = dict(valid.computed)
    event_key = enterprise or valid.district
    if valid.form == "hazard_rectification":
        hazard = _rectified_hazard(uow, valid)
        enterprise = hazard.pop("enterprise")
        event_key = hazard.pop("event_key")  # behind the inspection it closes, on the same partition
        computed["hazard"] = hazard
    sub = Submission(
        id=valid.submission_id,
        form=valid.form,
        form_version=valid.form_version,
        district=valid.district,
        enterprise=enterprise,
        collector=valid.collector,
        collected_at=iso(valid.collected_at),
        received_at=iso(clock()),
        content_hash=digest,
        data=valid.data,
        computed=computed,
        replaces=valid.replaces,
        event_key=event_key,
    )
    if valid.replaces:
        target = uow.submissions.get(valid.replaces, for_update=True)
        if target is None:
            raise DomainError(
                "unknown_submission",
                {
                    "en": f"replaces names submission {valid.replaces}, which does not exist",
                    "zh": f"replaces 指向的提交 {valid.replaces} 不存在",
                },
                path="replaces",
            )
        target.supersede(sub)
        sub.event_key = target.key()  # a lineage keeps one key even if the correction changes the enterprise
        uow.submissions.save(target)
    return sub


def _rectified_hazard(uow: UnitOfWork, valid: ValidSubmission) -> dict[str, Any]:
    """The hazard a rectification closes, as found in the current version of its inspection.

    The rectification event carries the hazard's facts (district, severity, deadline, when found) so a
    consumer can place it without looking anything up.
    """
    inspection_id = str(valid.data["inspection_id"])
    item_code = str(valid.data["item_code"])
    inspection = uow.submissions.get(inspection_id)
    root = inspection
    while root is not None and root.replaces:  # the first version names the hazard across corrections
        root = uow.submissions.get(root.replaces)
    if inspection is None or root is None or inspection.form != "factory_inspection":
        raise DomainError(
            "unknown_inspection",
            {
                "en": f"no factory inspection {inspection_id} was received",
                "zh": f"未收到编号为 {inspection_id} 的工厂检查",
            },
            path="data.inspection_id",
        )
    while inspection.superseded_by:  # follow corrections: the hazard is judged on the newest version
        newer = uow.submissions.get(inspection.superseded_by)
        if newer is None:
            break
        inspection = newer
    hazards = {h["item_code"]: h for h in inspection.computed.get("hazards", [])}
    if item_code not in hazards:
        raise DomainError(
            "unknown_hazard",
            {
                "en": f"inspection {inspection_id} found no hazard at item {item_code}",
                "zh": f"检查 {inspection_id} 中检查项 {item_code} 没有隐患",
            },
            path="data.item_code",
        )
    found_on = str(inspection.data["inspection_date"])
    if date.fromisoformat(str(valid.data["rectified_on"])) < date.fromisoformat(found_on):
        raise DomainError(
            "rectified_before_found",
            {
                "en": f"must not be before the inspection date {found_on}",
                "zh": f"整改日期不能早于检查日期 {found_on}",
            },
            path="data.rectified_on",
        )
    # One rectification per hazard: lock the inspection's first version so two racing rectifications of
    # the same hazard are judged one after the other.
    uow.submissions.get(root.id, for_update=True)
    hazard_ref = f"{root.id}:{item_code}"
    earlier = uow.submissions.current_rectification(hazard_ref)
    if earlier is not None and earlier != valid.replaces:
        raise Conflict(
            "already_rectified",
            {
                "en": f"hazard {item_code} of inspection {inspection_id} was already rectified by {earlier}; "
                "send a correction with replaces set to change it",
                "zh": f"检查 {inspection_id} 的隐患 {item_code} 已由 {earlier} 整改；"
                "如需修改，请提交更正并填写 replaces",
            },
            path="data.item_code",
        )
    hazard = dict(hazards[item_code])
    hazard.update(
        {
            "inspection_id": inspection.id,
            "inspection_root": root.id,
            "found_on": found_on,
            "district": inspection.district,
            "industry": inspection.data["enterprise"]["industry"],
            "enterprise": inspection.enterprise,
            "event_key": inspection.key(),
        }
    )
    return hazard


@dataclass(frozen=True)
class ReviewReceipt:
    replayed: bool  # True: a retry of a review already recorded under its review_id (nothing new stored)
    body: dict[str, Any]


def review(
    uow: UnitOfWork,
    submission_id: str,
    decision: str,
    comment: str | None,
    reviewer: str,
    clock: Clock = utcnow,
    review_id: str | None = None,
    request_reviewer: str | None = None,
) -> ReviewReceipt:
    """Record a review and its event; with a ``review_id``, once however often the client retries.

    The retry check comes after the submission's row lock (PostgreSQL; SQLite's ``BEGIN IMMEDIATE``
    serialises whole transactions), so racing retries of one review are judged one after the other and the
    later ones find the first one's row.  The unique constraint on ``review_id`` is the last word: a retry
    that still loses the race gets an ``IntegrityError`` and is answered from the winner's row.  The lookup
    also comes before the review rules, so a retry is answered as the first attempt was even if the
    submission has been corrected or reviewed again meanwhile.

    ``reviewer`` is who is recorded (the credential's account); ``request_reviewer``, when given, is who the
    request named, and is what a retry is compared on (access: the entrypoint sets both).
    """
    stated = request_reviewer or reviewer
    digest = review_request_hash(submission_id, decision, comment, stated) if review_id else None
    try:
        with uow:
            sub = uow.submissions.get(submission_id, for_update=True)
            if review_id:
                earlier = uow.submissions.review_by_id(review_id)
                if earlier is not None:
                    return _review_retry_answer(earlier, digest or "")
            if sub is None:
                raise _not_found(submission_id)
            seq = uow.submissions.next_review_seq(sub.id)
            sub.review(decision, comment, reviewer, clock(), seq)
            uow.submissions.save(sub)
            uow.submissions.record_review(sub, seq, review_id, digest)
            uow.commit()
            body: dict[str, Any] = {"submission_id": sub.id, "review_status": sub.review_status, "seq": seq}
            if review_id:
                body["review_id"] = review_id
            return ReviewReceipt(replayed=False, body=body)
    except IntegrityError:
        if review_id:
            with uow:
                earlier = uow.submissions.review_by_id(review_id)
            if earlier is not None:
                return _review_retry_answer(earlier, digest or "")
        raise Conflict(
            "concurrent_review",
            {
                "en": "another review was recorded at the same moment; reload and retry",
                "zh": "同时有另一条审核记录，请刷新后重试",
            },
        ) from None


def _review_retry_answer(earlier: StoredReview, digest: str) -> ReviewReceipt:
    if earlier.request_hash == digest:
        return ReviewReceipt(replayed=True, body=earlier.answer())
    raise Conflict(
        "review_id_reused",
        {
            "en": f"review {earlier.review_id} was already recorded with different content; "
            "send a new review with a new review_id instead",
            "zh": f"审核编号 {earlier.review_id} 已用于内容不同的审核；如需重新审核，请使用新的审核编号",
        },
        path="review_id",
    )


def get_submission(uow: UnitOfWork, submission_id: str) -> dict[str, Any]:
    with uow:
        versions = uow.submissions.history(submission_id)
        if not versions:
            raise _not_found(submission_id)
        asked = next(v for v in versions if v.id == submission_id)
        return {
            **asked.event_data(),
            "content_hash": asked.content_hash,
            "current": asked.current,
            "superseded_by": asked.superseded_by,
            "review": {
                "status": asked.review_status,
                "comment": asked.review_comment,
                "reviewer": asked.reviewer,
                "reviewed_at": asked.reviewed_at,
                "history": uow.submissions.reviews_of(asked.id),
            },
            "versions": [
                {"submission_id": v.id, "received_at": v.received_at, "current": v.current} for v in versions
            ],
        }


def _not_found(submission_id: str) -> NotFound:
    return NotFound(
        "not_found",
        {"en": f"no submission {submission_id}", "zh": f"没有编号为 {submission_id} 的提交"},
    )
