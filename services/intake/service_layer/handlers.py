"""The intake's use cases: submit (with retries and corrections), review (with retries), read back; store and
read evidence photos; list the hazards still open.

Each loads what its rules need through the unit of work, lets the domain model judge
(``services.intake.domain.model``) and commits; the rules themselves live in the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from services.intake.adapters.repository import RaceLost
from services.intake.domain import attachments, errors
from services.intake.domain.attachments import Attachment
from services.intake.domain.errors import DomainError
from services.intake.domain.model import (
    RECTIFICATION,
    HazardListing,
    HazardToRectify,
    ReviewAnswer,
    Submission,
    content_hash,
    found_hazards,
    hazard_ledger,
    hazard_ref,
    hazard_to_rectify,
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
    insert the same primary key, one loses (:class:`RaceLost`) and is answered from the winner's row.
    """
    digest = content_hash(valid.canonical(shared=True))
    try:
        with uow:
            # A first version reads nothing: it is inserted at once and a stored id (a retry) is recognised
            # by the insert (RaceLost, below).  Corrections and rectifications read what they name, so their
            # retries are recognised first, before those rules judge them again.
            if valid.replaces or valid.form == RECTIFICATION:
                existing = uow.submissions.get(valid.submission_id)
                if existing is not None:
                    return Receipt(created=False, body=existing.retried(digest))
            sub = _receive(uow, valid, digest, clock)
            uow.add_and_commit(sub)
            return Receipt(created=True, body=sub.receipt())
    except RaceLost:
        with uow:
            existing = uow.submissions.get(valid.submission_id)
            replaced = uow.submissions.get(valid.replaces) if valid.replaces else None
        if existing is not None:
            return Receipt(created=False, body=existing.retried(digest))
        if replaced is not None and replaced.superseded_by is not None:  # another correction won
            raise DomainError(
                errors.ALREADY_REPLACED, path="replaces", submission_id=replaced.id, by=replaced.superseded_by
            ) from None
        raise


def _receive(uow: UnitOfWork, valid: ValidSubmission, digest: str, clock: Clock) -> Submission:
    """The new version, judged against what it names: the hazard it rectifies, the version it replaces."""
    hazard = _hazard_to_rectify(uow, valid) if valid.form == RECTIFICATION else None
    replacing = uow.submissions.get(valid.replaces, for_update=True) if valid.replaces else None
    computed = valid.computed
    named = [a for _, a in attachments.photo_ids(valid.form, valid.data)]
    if named:
        # the photos must be stored, and be the collector's own (the entrypoint made it the credential's
        # account); the event carries their references, never their bytes
        held = uow.attachments.get_many(named)
        refs = attachments.references(valid.form, valid.data, held, str(valid.collector["id"]))
        computed = attachments.with_references(valid.form, valid.data, computed, refs)
    sub = Submission.receive(
        id=valid.submission_id,
        form=valid.form,
        form_version=valid.form_version,
        district=valid.district,
        enterprise=valid.enterprise,
        collector=valid.collector,
        collected_at=valid.collected_at,
        received_at=clock(),
        content_hash=digest,
        data=valid.data,
        computed=computed,
        replaces=valid.replaces,
        replacing=replacing,
        rectifies=hazard,
    )
    if replacing is not None:
        uow.submissions.save(replacing)
    return sub


def _hazard_to_rectify(uow: UnitOfWork, valid: ValidSubmission) -> HazardToRectify:
    inspection_id = str(valid.data["inspection_id"])
    lineage = uow.submissions.history(inspection_id)
    hazard = hazard_to_rectify(
        lineage,
        inspection_id,
        str(valid.data["item_code"]),
        date.fromisoformat(str(valid.data["rectified_on"])),
    )
    # One rectification per hazard: lock the inspection's first version so two racing rectifications of
    # the same hazard are judged one after the other.
    uow.submissions.get(lineage[0].id, for_update=True)
    hazard.claim(uow.submissions.current_rectification(hazard.ref), replaces=valid.replaces)
    return hazard


@dataclass(frozen=True)
class ReviewReceipt:
    replayed: bool  # True: a retry of a review already recorded under its review_id (nothing new stored)
    body: ReviewAnswer


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
    that still loses the race (:class:`RaceLost`) is answered from the winner's row.  The lookup also comes
    before the review rules, so a retry is answered as the first attempt was even if the submission has been
    corrected or reviewed again meanwhile.

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
                    return ReviewReceipt(replayed=True, body=earlier.retried(digest or ""))
            if sub is None:
                raise DomainError(errors.NOT_FOUND, submission_id=submission_id)
            seq = uow.submissions.next_review_seq(sub.id)
            sub.review(decision, comment, reviewer, clock(), seq)
            uow.submissions.save(sub)
            uow.submissions.record_review(sub, seq, review_id, digest)
            uow.commit()
            body: ReviewAnswer = {"submission_id": sub.id, "review_status": sub.review_status, "seq": seq}
            if review_id:
                body["review_id"] = review_id
            return ReviewReceipt(replayed=False, body=body)
    except RaceLost:
        if review_id:
            with uow:
                earlier = uow.submissions.review_by_id(review_id)
            if earlier is not None:
                return ReviewReceipt(replayed=True, body=earlier.retried(digest or ""))
        raise DomainError(errors.CONCURRENT_REVIEW) from None


def get_submission(uow: UnitOfWork, submission_id: str) -> dict[str, Any]:
    """A submission as stored, with its lineage's versions and its review history."""
    with uow:
        versions = uow.submissions.history(submission_id)
        if not versions:
            raise DomainError(errors.NOT_FOUND, submission_id=submission_id)
        asked = next(v for v in versions if v.id == submission_id)
        return {
            **asdict(asked.version()),
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


@dataclass(frozen=True)
class AttachmentReceipt:
    created: bool  # False: a retry of an upload already stored (HTTP 200 instead of 201)
    body: dict[str, Any]


def store_attachment(
    uow: UnitOfWork,
    attachment_id: str,
    declared_type: str,
    content: bytes,
    *,
    owner: str,
    allowed: tuple[str, ...],
    max_bytes: int,
    clock: Clock = utcnow,
) -> AttachmentReceipt:
    """Store a photo once, however often the device retries the upload (as :func:`submit` does)."""
    photo = attachments.received(
        attachment_id,
        declared_type,
        content,
        owner=owner,
        received_at=clock().isoformat(),
        allowed=allowed,
        max_bytes=max_bytes,
    )
    try:
        with uow:
            existing = uow.attachments.get(attachment_id)
            if existing is not None:
                return AttachmentReceipt(created=False, body=existing.retried(photo.sha256, owner))
            uow.attachments.add(photo, content)
            uow.commit()
            return AttachmentReceipt(created=True, body=photo.answer())
    except RaceLost:
        with uow:
            winner = uow.attachments.get(attachment_id)
        if winner is None:
            raise
        return AttachmentReceipt(created=False, body=winner.retried(photo.sha256, owner))


@dataclass(frozen=True)
class StoredPhoto:
    attachment: Attachment
    content: bytes
    districts: set[str]  #: of the submissions that name it: who may read it follows them


def get_attachment(uow: UnitOfWork, attachment_id: str) -> StoredPhoto:
    with uow:
        found = uow.attachments.get(attachment_id)
        content = uow.attachments.content(attachment_id) if found is not None else None
        if found is None or content is None:
            raise DomainError(errors.ATTACHMENT_NOT_FOUND, attachment_id=attachment_id)
        return StoredPhoto(found, content, uow.attachments.districts_naming(attachment_id))


def hazards(uow: UnitOfWork, districts: list[str], rectified_too: bool = False) -> list[HazardListing]:
    """The hazards found by the inspections of these districts that count, open ones only unless
    ``rectified_too``: the same rules as a rectification's (the hazard exists on the newest version, one
    counting rectification per hazard), applied by the domain's :func:`hazard_ledger`."""
    with uow:
        newest = uow.submissions.counting_inspections(districts)
        # a hazard is named by its inspection's first version: a correction's lineage is walked back to it
        lineages = [(uow.submissions.history(s.id)[0].id if s.replaces else s.id, s) for s in newest]
        refs = [hazard_ref(root, code) for root, s in lineages for code in found_hazards(s)]
        counting = uow.submissions.counting_rectifications(refs)
        return hazard_ledger(lineages, counting, rectified_too=rectified_too)
