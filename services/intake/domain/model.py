"""A submission, its versions and its review: the rules a field submission lives by.

Rules (ODK Central's model, which field teams already know):
- the client names each submission with a UUID; the same id with the same content is the same submission
  (a retry), the same id with other content is a conflict;
- a correction is a new submission naming the one it ``replaces``; only the newest version counts, the old
  stays readable as history, and a version can be replaced only once;
- bureau staff review the current version: approved, has_issues or rejected (a rejection needs a comment);
  a review may carry the client's ``review_id`` (a UUID), which makes its retries safe in the same way.
Every change raises an event, written to the outbox in the same transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.eventlog.envelope import TYPE_PREFIX, Event, canonical_json

SOURCE = "/score/intake"
ACCEPTED = TYPE_PREFIX + "submission.accepted.v1"
CORRECTED = TYPE_PREFIX + "submission.corrected.v1"
REVIEWED = TYPE_PREFIX + "submission.reviewed.v1"

REVIEW_STATES = ("pending", "approved", "has_issues", "rejected")
REVIEW_DECISIONS = ("approved", "has_issues", "rejected")


class DomainError(Exception):
    """A request that is well-formed but breaks a rule; ``status`` is the HTTP status it maps to."""

    status = 422

    def __init__(self, code: str, message: dict[str, str], path: str = "") -> None:
        super().__init__(message.get("en", code))
        self.code = code
        self.message = message
        self.path = path


class Conflict(DomainError):
    status = 409


class NotFound(DomainError):
    status = 404


def content_hash(canonical: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(canonical).encode()).hexdigest()


def iso(t: datetime) -> str:
    return t.isoformat()


def review_request_hash(submission_id: str, decision: str, comment: str | None, reviewer: str) -> str:
    """What a review asked for, hashed: a retry under the same ``review_id`` must ask for the same."""
    return content_hash(
        {"submission_id": submission_id, "status": decision, "comment": comment, "reviewer": reviewer}
    )


@dataclass(frozen=True)
class StoredReview:
    """A review recorded under a client's idempotency key (``review_id``)."""

    review_id: str
    submission_id: str
    seq: int
    status: str
    request_hash: str

    def answer(self) -> dict[str, Any]:
        """The answer the first request got; a retry gets it again, word for word."""
        return {
            "submission_id": self.submission_id,
            "review_status": self.status,
            "seq": self.seq,
            "review_id": self.review_id,
        }


@dataclass
class Submission:
    id: str
    form: str
    form_version: int
    district: str
    enterprise: str | None
    collector: dict[str, Any]
    collected_at: str
    received_at: str
    content_hash: str
    data: dict[str, Any]
    computed: dict[str, Any]
    replaces: str | None = None
    #: the Kafka key of every event of this submission's lineage; fixed by its first version, so a
    #: correction that fixes a mistyped credit code still follows the versions it replaces in order
    event_key: str = ""
    superseded_by: str | None = None
    review_status: str = "pending"
    review_comment: str | None = None
    reviewer: str | None = None
    reviewed_at: str | None = None
    events: list[Event] = field(default_factory=list, repr=False, compare=False)

    @property
    def current(self) -> bool:
        return self.superseded_by is None

    def receipt(self) -> dict[str, Any]:
        """What the client keeps as proof: identical on every retry of the same submission."""
        return {
            "submission_id": self.id,
            "form": self.form,
            "form_version": self.form_version,
            "district": self.district,
            "received_at": self.received_at,
            "content_hash": self.content_hash,
            "replaces": self.replaces,
            "computed": self.computed,
        }

    def event_data(self) -> dict[str, Any]:
        return {
            "submission_id": self.id,
            "form": self.form,
            "form_version": self.form_version,
            "district": self.district,
            "enterprise": self.enterprise,
            "collector": self.collector,
            "collected_at": self.collected_at,
            "received_at": self.received_at,
            "replaces": self.replaces,
            "data": self.data,
            "computed": self.computed,
        }

    def key(self) -> str:
        # Kafka key: one enterprise's events (inspection, rectifications, corrections, reviews) stay in order.
        return self.event_key or self.enterprise or self.district

    def announce_received(self) -> None:
        self.events.append(
            Event.new(
                type=CORRECTED if self.replaces else ACCEPTED,
                source=SOURCE,
                subject=self.id,
                key=self.key(),
                data=self.event_data(),
                # Stable id: the event of a submission version is minted from its id, so no retry can mint
                # a second one.
                id=f"{self.id}:received",
                time=datetime.fromisoformat(self.received_at),
            )
        )

    def supersede(self, by: Submission) -> None:
        if self.superseded_by is not None:
            raise Conflict(
                "already_replaced",
                {
                    "en": f"submission {self.id} was already replaced by {self.superseded_by}",
                    "zh": f"提交 {self.id} 已被 {self.superseded_by} 更正，不能再次更正",
                },
                path="replaces",
            )
        if by.form != self.form:
            raise DomainError(
                "replaces_other_form",
                {
                    "en": f"a {by.form} cannot replace a {self.form}",
                    "zh": f"{by.form} 表单不能更正 {self.form} 表单",
                },
                path="replaces",
            )
        self.superseded_by = by.id

    def review(self, decision: str, comment: str | None, reviewer: str, at: datetime, seq: int) -> None:
        if decision not in REVIEW_DECISIONS:
            raise DomainError(
                "invalid_choice",
                {
                    "en": f"must be one of {', '.join(REVIEW_DECISIONS)}",
                    "zh": f"必须是以下之一：{', '.join(REVIEW_DECISIONS)}",
                },
                path="status",
            )
        if decision == "rejected" and not (comment or "").strip():
            raise DomainError(
                "comment_required",
                {"en": "a rejection needs a comment", "zh": "驳回时必须填写意见"},
                path="comment",
            )
        if not self.current:
            raise Conflict(
                "not_current",
                {
                    "en": f"submission {self.id} was replaced by {self.superseded_by}; review the newest version",
                    "zh": f"提交 {self.id} 已被 {self.superseded_by} 更正，请审核最新版本",
                },
            )
        previous = self.review_status
        self.review_status = decision
        self.review_comment = comment
        self.reviewer = reviewer
        self.reviewed_at = iso(at)
        self.events.append(
            Event.new(
                type=REVIEWED,
                source=SOURCE,
                subject=self.id,
                key=self.key(),
                data={
                    "submission_id": self.id,
                    "form": self.form,
                    "district": self.district,
                    "status": decision,
                    "previous_status": previous,
                    "comment": comment,
                    "reviewer": reviewer,
                    "reviewed_at": self.reviewed_at,
                },
                id=f"{self.id}:review:{seq}",
                time=at,
            )
        )
