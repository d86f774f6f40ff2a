"""Submissions in and out of their table; the domain never sees a row."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from services.intake.adapters.tables import reviews, submissions
from services.intake.domain.model import StoredReview, Submission


def _to_row(s: Submission) -> dict[str, Any]:
    return {
        "id": s.id,
        "form": s.form,
        "form_version": s.form_version,
        "district": s.district,
        "enterprise": s.enterprise,
        "collector": json.dumps(s.collector, ensure_ascii=False, sort_keys=True),
        "collected_at": s.collected_at,
        "received_at": s.received_at,
        "content_hash": s.content_hash,
        "data": json.dumps(s.data, ensure_ascii=False, sort_keys=True),
        "computed": json.dumps(s.computed, ensure_ascii=False, sort_keys=True),
        "replaces": s.replaces,
        "event_key": s.event_key or None,
        "hazard_ref": _hazard_ref(s),
        "superseded_by": s.superseded_by,
        "review_status": s.review_status,
        "review_comment": s.review_comment,
        "reviewer": s.reviewer,
        "reviewed_at": s.reviewed_at,
    }


def _hazard_ref(s: Submission) -> str | None:
    hazard = s.computed.get("hazard") if s.form == "hazard_rectification" else None
    return f"{hazard['inspection_root']}:{hazard['item_code']}" if hazard else None


def _from_row(row: Any) -> Submission:
    return Submission(
        id=row.id,
        form=row.form,
        form_version=row.form_version,
        district=row.district,
        enterprise=row.enterprise,
        collector=json.loads(row.collector),
        collected_at=row.collected_at,
        received_at=row.received_at,
        content_hash=row.content_hash,
        data=json.loads(row.data),
        computed=json.loads(row.computed),
        replaces=row.replaces,
        event_key=row.event_key or "",
        superseded_by=row.superseded_by,
        review_status=row.review_status,
        review_comment=row.review_comment,
        reviewer=row.reviewer,
        reviewed_at=row.reviewed_at,
    )


class SubmissionRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.seen: list[Submission] = []

    def get(self, submission_id: str, for_update: bool = False) -> Submission | None:
        stmt = select(submissions).where(submissions.c.id == submission_id)
        if for_update and self._conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = self._conn.execute(stmt).first()
        if row is None:
            return None
        sub = _from_row(row)
        self.seen.append(sub)
        return sub

    def add(self, sub: Submission) -> None:
        self._conn.execute(insert(submissions).values(_to_row(sub)))
        self.seen.append(sub)

    def save(self, sub: Submission) -> None:
        row = _to_row(sub)
        self._conn.execute(update(submissions).where(submissions.c.id == sub.id).values(row))

    def current_rectification(self, hazard_ref: str) -> str | None:
        """The id of the rectification that counts now for a hazard (``<inspection root>:<item code>``)."""
        return self._conn.execute(
            select(submissions.c.id).where(
                submissions.c.hazard_ref == hazard_ref,
                submissions.c.superseded_by.is_(None),
                submissions.c.review_status != "rejected",
            )
        ).scalar()

    def next_review_seq(self, submission_id: str) -> int:
        """The number the next review of this submission gets (unique with the submission: a race loses)."""
        done = self._conn.execute(
            select(func.count()).select_from(reviews).where(reviews.c.submission_id == submission_id)
        ).scalar_one()
        return int(done) + 1

    def record_review(
        self, sub: Submission, seq: int, review_id: str | None = None, request_hash: str | None = None
    ) -> None:
        self._conn.execute(
            insert(reviews).values(
                submission_id=sub.id,
                seq=seq,
                status=sub.review_status,
                comment=sub.review_comment,
                reviewer=sub.reviewer,
                reviewed_at=sub.reviewed_at,
                review_id=review_id,
                request_hash=request_hash,
            )
        )

    def review_by_id(self, review_id: str) -> StoredReview | None:
        """The review recorded under a client's idempotency key, if any."""
        row = self._conn.execute(select(reviews).where(reviews.c.review_id == review_id)).first()
        if row is None:
            return None
        return StoredReview(
            review_id=review_id,
            submission_id=row.submission_id,
            seq=row.seq,
            status=row.status,
            request_hash=row.request_hash or "",
        )

    def history(self, submission_id: str) -> list[Submission]:
        """Every version in the lineage of ``submission_id``, oldest first."""
        first = self.get(submission_id)
        if first is None:
            return []
        # walk back to the root, then forward to the newest
        root = first
        while root.replaces:
            prev = self.get(root.replaces)
            if prev is None:
                break
            root = prev
        chain = [root]
        while chain[-1].superseded_by:
            nxt = self.get(chain[-1].superseded_by)
            if nxt is None:
                break
            chain.append(nxt)
        return chain

    def reviews_of(self, submission_id: str) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            select(reviews).where(reviews.c.submission_id == submission_id).order_by(reviews.c.seq)
        ).all()
        return [
            {
                "seq": r.seq,
                "status": r.status,
                "comment": r.comment,
                "reviewer": r.reviewer,
                "at": r.reviewed_at,
            }
            for r in rows
        ]
