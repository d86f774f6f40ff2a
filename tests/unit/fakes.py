"""In-memory stand-ins for the intake's unit of work and repository, for unit tests of the handlers.

They keep the promises the SQL ones keep: a transaction sees its own writes and nothing is stored unless it
commits; unique keys (submission id, replaced version, review id, a review's number) refuse a second
claim with ``RaceLost``; everything read is a copy, so only what is saved and committed is stored.  A test
can let "another transaction" commit just before the next write (:meth:`FakeStore.before_next_write`) to
play out a race the database would settle.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from services.intake.adapters.repository import AttachmentRepository, RaceLost, SubmissionRepository
from services.intake.domain.attachments import Attachment
from services.intake.domain.events import DomainEvent
from services.intake.domain.model import ReviewEntry, StoredReview, Submission
from services.intake.service_layer.unit_of_work import UnitOfWork


@dataclass
class FakeStore:
    """What a database would hold: committed submissions, reviews and events (the outbox)."""

    submissions: dict[str, Submission] = field(default_factory=dict)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    events: list[DomainEvent] = field(default_factory=list)
    attachments: dict[str, tuple[Attachment, bytes]] = field(default_factory=dict)
    commits: int = 0
    _interleaved: list[Callable[[], object]] = field(default_factory=list)

    def before_next_write(self, other_transaction: Callable[[], object]) -> None:
        self._interleaved.append(other_transaction)

    def _interleave(self) -> None:
        while self._interleaved:
            self._interleaved.pop(0)()


class FakeRepository(SubmissionRepository):
    def __init__(self, store: FakeStore) -> None:
        super().__init__()
        self._store = store
        self.pending: dict[str, Submission] = {}
        self.pending_reviews: list[dict[str, Any]] = []
        self.locks: list[str] = []  # every row lock taken, in order

    def _all(self) -> dict[str, Submission]:
        return {**self._store.submissions, **self.pending}

    def _all_reviews(self) -> list[dict[str, Any]]:
        return [*self._store.reviews, *self.pending_reviews]

    def _load(self, submission_id: str, for_update: bool) -> Submission | None:
        if for_update:
            self.locks.append(submission_id)
        found = self._all().get(submission_id)
        return copy.deepcopy(found) if found is not None else None

    def _lock(self, submission_id: str) -> None:
        self.locks.append(submission_id)

    def _insert(self, sub: Submission) -> None:
        self._store._interleave()
        stored = self._all()
        if sub.id in stored or (sub.replaces and any(s.replaces == sub.replaces for s in stored.values())):
            raise RaceLost(f"submission {sub.id} (replaces {sub.replaces}) clashes with a stored one")
        self.pending[sub.id] = sub

    def save(self, sub: Submission) -> None:
        self.pending[sub.id] = sub

    def counting_rectifications(self, hazard_refs: list[str]) -> dict[str, Submission]:
        return {
            s.hazard_ref: copy.deepcopy(s)
            for s in self._all().values()
            if s.hazard_ref in hazard_refs and s.counts
        }

    def counting_inspections(self, districts: list[str]) -> list[Submission]:
        return [
            copy.deepcopy(s)
            for s in sorted(self._all().values(), key=lambda s: s.id)
            if s.form == "factory_inspection" and s.district in districts and s.counts
        ]

    def next_review_seq(self, submission_id: str) -> int:
        return sum(1 for r in self._all_reviews() if r["submission_id"] == submission_id) + 1

    def record_review(
        self, sub: Submission, seq: int, review_id: str | None, request_hash: str | None
    ) -> None:
        self._store._interleave()
        for r in self._all_reviews():
            if (r["submission_id"], r["seq"]) == (sub.id, seq) or (review_id and r["review_id"] == review_id):
                raise RaceLost(f"review {seq} of {sub.id} ({review_id}) clashes with a stored one")
        self.pending_reviews.append(
            {
                "submission_id": sub.id,
                "seq": seq,
                "status": sub.review_status,
                "comment": sub.review_comment,
                "reviewer": sub.reviewer,
                "at": sub.reviewed_at,
                "review_id": review_id,
                "request_hash": request_hash,
            }
        )

    def review_by_id(self, review_id: str) -> StoredReview | None:
        for r in self._all_reviews():
            if r["review_id"] == review_id:
                return StoredReview(
                    review_id, r["submission_id"], r["seq"], r["status"], r["request_hash"] or ""
                )
        return None

    def reviews_of(self, submission_id: str) -> list[ReviewEntry]:
        mine = sorted(
            (r for r in self._all_reviews() if r["submission_id"] == submission_id), key=lambda r: r["seq"]
        )
        return [
            {
                "seq": r["seq"],
                "status": r["status"],
                "comment": r["comment"],
                "reviewer": r["reviewer"],
                "at": r["at"],
            }
            for r in mine
        ]


class FakeAttachments(AttachmentRepository):
    """Photos: stored at commit, an id once (``RaceLost`` for a second)."""

    def __init__(self, store: FakeStore, submissions: FakeRepository) -> None:
        self._store = store
        self._submissions = submissions
        self.pending: dict[str, tuple[Attachment, bytes]] = {}

    def _all(self) -> dict[str, tuple[Attachment, bytes]]:
        return {**self._store.attachments, **self.pending}

    def get_many(self, ids: list[str]) -> dict[str, Attachment]:
        found = self._all()
        return {i: found[i][0] for i in ids if i in found}

    def add(self, attachment: Attachment, content: bytes) -> None:
        self._store._interleave()
        if attachment.id in self._all():
            raise RaceLost(f"attachment {attachment.id} is stored already")
        self.pending[attachment.id] = (attachment, content)

    def content(self, attachment_id: str) -> bytes | None:
        found = self._all().get(attachment_id)
        return found[1] if found else None

    def districts_naming(self, attachment_id: str) -> set[str]:
        return {s.district for s in self._submissions._all().values() if attachment_id in s.photos}


class FakeUnitOfWork(UnitOfWork):
    submissions: FakeRepository
    attachments: FakeAttachments

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.transactions: list[FakeRepository] = []  # one repository per transaction, for assertions

    def _begin(self) -> None:
        self.submissions = FakeRepository(self.store)
        self.attachments = FakeAttachments(self.store, self.submissions)
        self.transactions.append(self.submissions)

    def _commit(self, events: list[DomainEvent]) -> None:
        for sub in self.submissions.pending.values():
            stored = copy.deepcopy(sub)
            stored.events = []  # events go to the outbox, never into the submission's row
            self.store.submissions[sub.id] = stored
        self.store.reviews.extend(copy.deepcopy(self.submissions.pending_reviews))
        self.store.attachments.update(self.attachments.pending)
        self.store.events.extend(events)
        self.store.commits += 1

    def _rollback(self) -> None:
        pass  # nothing pending reaches the store

    def _end(self) -> None:
        pass
