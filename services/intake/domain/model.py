"""A submission, its versions and its reviews: the rules a field submission lives by.

Rules (ODK Central's model, which field teams already know):
- the client names each submission with a UUID; the same id with the same content is the same submission
  (a retry), the same id with other content is a conflict;
- a correction is a new submission naming the one it ``replaces``, of the same form; only the newest version
  counts, the old stays readable as history, and a version can be replaced only once;
- a rectification names a factory inspection and one of its failed items: the hazard must be one the
  newest version of that inspection found, it cannot be fixed before it was found, and a hazard has one
  counting rectification (a second is a correction of the first, or comes after the first was rejected);
- bureau staff review the current version: approved, has_issues or rejected (a rejection needs a comment);
  a review may carry the client's ``review_id`` (a UUID), which makes its retries safe in the same way.
Every change raises a domain event (``events``), written to the outbox in the same transaction.

Only the standard library (and the shared canonical JSON) here: these rules are tested without a database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypedDict

from services.common.canonical import canonical_json
from services.intake.domain import errors
from services.intake.domain.attachments import photo_ids
from services.intake.domain.errors import DomainError
from services.intake.domain.events import (
    VERSION_FIELDS,
    DomainEvent,
    SubmissionReceived,
    SubmissionReviewed,
    Version,
)

INSPECTION = "factory_inspection"
RECTIFICATION = "hazard_rectification"
REVIEW_DECISIONS = ("approved", "has_issues", "rejected")
#: what the hazard ledger lists (``GET /api/v1/hazards?status=``): the open hazards, or all with the rectified
HAZARD_STATUSES = ("open", "all")


def content_hash(canonical: Mapping[str, Any]) -> str:
    """What identifies a submission's (or a review's) content: a retry must hash the same.  ``canonical`` holds
    what the body's JSON and the form loaders gave (strings, integers, booleans, nulls, lists and objects):
    ``canonical_json``'s ``parsed`` case."""
    return hashlib.sha256(canonical_json(canonical, parsed=True).encode()).hexdigest()


def review_request_hash(submission_id: str, decision: str, comment: str | None, reviewer: str) -> str:
    """What a review asked for, hashed: a retry under the same ``review_id`` must ask for the same."""
    return content_hash(
        {"submission_id": submission_id, "status": decision, "comment": comment, "reviewer": reviewer}
    )


class ReviewAnswer(TypedDict, total=False):
    submission_id: str
    review_status: str
    seq: int
    review_id: str  # only when the client sent one


class ReviewEntry(TypedDict):
    """One review in a submission's history."""

    seq: int
    status: str
    comment: str | None
    reviewer: str
    at: str


@dataclass(frozen=True)
class StoredReview:
    """A review recorded under a client's idempotency key (``review_id``)."""

    review_id: str
    submission_id: str
    seq: int
    status: str
    request_hash: str

    def answer(self) -> ReviewAnswer:
        """The answer the first request got; a retry gets it again, word for word."""
        return {
            "submission_id": self.submission_id,
            "review_status": self.status,
            "seq": self.seq,
            "review_id": self.review_id,
        }

    def retried(self, request_hash: str) -> ReviewAnswer:
        """The answer to a retry under this ``review_id``, which must ask for what the first request did."""
        if request_hash != self.request_hash:
            raise DomainError(errors.REVIEW_ID_REUSED, path="review_id", review_id=self.review_id)
        return self.answer()


class FoundHazard(TypedDict):
    """A hazard as the inspection that found it computed it (``computed.hazards[]``)."""

    hazard_id: str
    item_code: str
    category: str
    severity: str
    deadline: str


class HazardFacts(FoundHazard):
    """What a rectification's ``computed.hazard`` carries, so a consumer can place it without a lookup."""

    inspection_id: str  # the inspection's newest version, on which the hazard was judged
    inspection_root: str  # its first version, which names the hazard across corrections
    found_on: str
    district: str
    industry: str


@dataclass(frozen=True)
class HazardToRectify:
    """The hazard a rectification closes, judged on the newest version of the inspection that found it."""

    facts: HazardFacts
    named_as: str  # the inspection id the rectification gave (any version of it), for messages
    enterprise: str | None  # the inspected enterprise: a rectification is about it
    order_key: str  # the inspection's: the rectification is read after the inspection it closes

    @property
    def ref(self) -> str:
        """``<inspection's first version>:<item code>``: the same hazard whatever corrections came since."""
        return hazard_ref(self.facts["inspection_root"], self.facts["item_code"])

    def claim(self, counting_rectification: str | None, replaces: str | None) -> None:
        """One counting rectification per hazard: a second one must be a correction of the first."""
        if counting_rectification is not None and counting_rectification != replaces:
            raise DomainError(
                errors.ALREADY_RECTIFIED,
                path="data.item_code",
                inspection_id=self.named_as,
                item_code=self.facts["item_code"],
                by=counting_rectification,
            )


def hazard_ref(inspection_root: str, item_code: str) -> str:
    return f"{inspection_root}:{item_code}"


def found_hazards(inspection: Submission) -> dict[str, FoundHazard]:
    """The hazards an inspection version found, by item code: a hazard exists if the newest version of its
    inspection found it (a correction may remove one)."""
    return {h["item_code"]: h for h in inspection.computed.get("hazards", [])}


class HazardListing(TypedDict):
    """A hazard of the ledger, as ``GET /api/v1/hazards`` lists it for the rectification screen."""

    hazard_id: str
    inspection_id: str
    item_code: str
    district: str
    enterprise: dict[str, str]
    category: str
    severity: str
    finding: str
    deadline: str
    found_on: str
    rectified_on: str | None
    rectification_id: str | None


def hazard_ledger(
    inspections: Sequence[tuple[str, Submission]], counting: Mapping[str, Submission], *, rectified_too: bool
) -> list[HazardListing]:
    """The hazards the given inspections found and whether each is rectified, soonest deadline first.

    ``inspections``: (first version's id, newest version) of each inspection lineage that counts; a hazard is
    named by its inspection's first version (``hazard_ref``) and judged on the newest (:func:`found_hazards`),
    as a rectification is.  ``counting``: the counting rectification of each hazard that has one (one per
    hazard, :meth:`HazardToRectify.claim`); a hazard without one is open.  Open ones only, unless
    ``rectified_too``.
    """
    listed: list[HazardListing] = []
    for root, newest in inspections:
        findings = {
            item["code"]: item["hazard"]["finding"] for item in newest.data["items"] if item.get("hazard")
        }
        for code, hazard in found_hazards(newest).items():
            fix = counting.get(hazard_ref(root, code))
            if fix is not None and not rectified_too:
                continue
            enterprise = newest.data["enterprise"]
            listed.append(
                {
                    "hazard_id": hazard["hazard_id"],
                    "inspection_id": newest.id,
                    "item_code": code,
                    "district": newest.district,
                    "enterprise": {"credit_code": enterprise["credit_code"], "name": enterprise["name"]},
                    "category": hazard["category"],
                    "severity": hazard["severity"],
                    "finding": findings.get(code, ""),
                    "deadline": hazard["deadline"],
                    "found_on": str(newest.data["inspection_date"]),
                    "rectified_on": str(fix.data["rectified_on"]) if fix is not None else None,
                    "rectification_id": fix.id if fix is not None else None,
                }
            )
    listed.sort(key=lambda h: (h["rectified_on"] is not None, h["deadline"], h["found_on"], h["hazard_id"]))
    return listed


def hazard_to_rectify(
    lineage: Sequence[Submission], inspection_id: str, item_code: str, rectified_on: date
) -> HazardToRectify:
    """The hazard at ``item_code`` of the inspection ``inspection_id`` names, given that inspection's
    ``lineage`` (every version, oldest first; empty when nothing by that id was received).

    The hazard is judged on the newest version (a correction may have removed it) and named by the first.
    """
    if not lineage or lineage[-1].form != INSPECTION:
        raise DomainError(errors.UNKNOWN_INSPECTION, path="data.inspection_id", inspection_id=inspection_id)
    root, newest = lineage[0], lineage[-1]
    found = found_hazards(newest)
    if item_code not in found:
        raise DomainError(
            errors.UNKNOWN_HAZARD, path="data.item_code", inspection_id=inspection_id, item_code=item_code
        )
    found_on = str(newest.data["inspection_date"])
    if rectified_on < date.fromisoformat(found_on):
        raise DomainError(errors.RECTIFIED_BEFORE_FOUND, path="data.rectified_on", found_on=found_on)
    facts: HazardFacts = {
        **found[item_code],
        "inspection_id": newest.id,
        "inspection_root": root.id,
        "found_on": found_on,
        "district": newest.district,
        "industry": newest.data["enterprise"]["industry"],
    }
    return HazardToRectify(
        facts=facts, named_as=inspection_id, enterprise=newest.enterprise, order_key=newest.order_key
    )


@dataclass(kw_only=True)
class Submission(Version):
    """A stored version (its fields: ``events.Version``) and what happens to it after: superseded, reviewed."""

    content_hash: str
    #: the key that keeps every event of this submission's lineage in order; fixed by its first version, so
    #: a correction that fixes a mistyped credit code still follows the versions it replaces
    order_key: str = ""
    superseded_by: str | None = None
    review_status: str = "pending"
    review_comment: str | None = None
    reviewer: str | None = None
    reviewed_at: str | None = None
    events: list[DomainEvent] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def receive(
        cls,
        *,
        id: str,
        form: str,
        form_version: int,
        district: str,
        enterprise: str | None,
        collector: dict[str, Any],
        collected_at: datetime,
        received_at: datetime,
        content_hash: str,
        data: dict[str, Any],
        computed: Mapping[str, Any],
        replaces: str | None = None,
        replacing: Submission | None = None,
        rectifies: HazardToRectify | None = None,
    ) -> Submission:
        """A new version, announced: a first one, or a correction of ``replacing`` (the stored version its
        ``replaces`` names; None when nothing by that id is stored).  A rectification names the hazard it
        closes (``rectifies``) and takes its enterprise and order from the inspection that found it."""
        computed = dict(computed)
        order_key = enterprise or district
        if rectifies is not None:
            enterprise = rectifies.enterprise
            order_key = rectifies.order_key
            computed["hazard"] = dict(rectifies.facts)
        sub = cls(
            submission_id=id,
            form=form,
            form_version=form_version,
            district=district,
            enterprise=enterprise,
            collector=collector,
            collected_at=collected_at.isoformat(),
            received_at=received_at.isoformat(),
            content_hash=content_hash,
            data=data,
            computed=computed,
            replaces=replaces,
            order_key=order_key,
        )
        if replaces is not None:
            if replacing is None:
                raise DomainError(errors.UNKNOWN_SUBMISSION, path="replaces", submission_id=replaces)
            replacing.supersede(sub)
        sub.events.append(SubmissionReceived(version=sub.version(), order_key=sub.order_key, at=received_at))
        return sub

    @property
    def id(self) -> str:
        return self.submission_id

    @property
    def current(self) -> bool:
        return self.superseded_by is None

    @property
    def counts(self) -> bool:
        """Does this version count (in the figures, and as a hazard's rectification)?  The newest version of
        its lineage, not rejected.  (The SQL repository asks the same in its queries: ``_COUNTS``.)"""
        return self.current and self.review_status != "rejected"

    @property
    def hazard_ref(self) -> str | None:
        """For a rectification: the hazard it closes (``<inspection's first version>:<item code>``)."""
        hazard = self.computed.get("hazard") if self.form == RECTIFICATION else None
        return hazard_ref(hazard["inspection_root"], hazard["item_code"]) if hazard else None

    @property
    def photos(self) -> list[str]:
        """The attachment ids this version names, each once, in the order they appear."""
        return list(dict.fromkeys(a for _, a in photo_ids(self.form, self.data)))

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

    def retried(self, content_hash: str) -> dict[str, Any]:
        """The receipt for a retry of this submission, which must send the same content."""
        if content_hash != self.content_hash:
            raise DomainError(errors.ID_REUSED, path="submission_id", submission_id=self.id)
        return self.receipt()

    def version(self) -> Version:
        """This version as it is published: a copy, so an event does not change with the aggregate."""
        return Version(**{name: getattr(self, name) for name in VERSION_FIELDS})

    def supersede(self, by: Submission) -> None:
        """``by`` replaces this version; it keeps the lineage's order even if it names another enterprise."""
        if self.superseded_by is not None:
            raise DomainError(
                errors.ALREADY_REPLACED, path="replaces", submission_id=self.id, by=self.superseded_by
            )
        if by.form != self.form:
            raise DomainError(
                errors.REPLACES_OTHER_FORM, path="replaces", form=by.form, replaced_form=self.form
            )
        self.superseded_by = by.id
        by.order_key = self.order_key

    def review(self, decision: str, comment: str | None, reviewer: str, at: datetime, seq: int) -> None:
        if decision not in REVIEW_DECISIONS:
            raise DomainError(errors.INVALID_CHOICE, path="status", choices=", ".join(REVIEW_DECISIONS))
        if decision == "rejected" and not (comment or "").strip():
            raise DomainError(errors.COMMENT_REQUIRED, path="comment")
        if self.superseded_by is not None:
            raise DomainError(errors.NOT_CURRENT, submission_id=self.id, by=self.superseded_by)
        previous = self.review_status
        self.review_status = decision
        self.review_comment = comment
        self.reviewer = reviewer
        self.reviewed_at = at.isoformat()
        self.events.append(
            SubmissionReviewed(
                review={
                    "submission_id": self.id,
                    "form": self.form,
                    "district": self.district,
                    "status": decision,
                    "previous_status": previous,
                    "comment": comment,
                    "reviewer": reviewer,
                    "reviewed_at": self.reviewed_at,
                },
                seq=seq,
                order_key=self.order_key,
                at=at,
            )
        )
