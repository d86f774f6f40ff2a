"""The intake's domain events as CloudEvents: the one place that knows their type, id, subject and key.

The domain raises plain records (``services.intake.domain.events``); this adapter gives each the envelope of
the public contract (``schemas/events/``) when the unit of work writes it into the outbox.
"""

from __future__ import annotations

from typing import TypedDict

from services.eventlog.contracts import SUBMISSION_ACCEPTED, SUBMISSION_CORRECTED, SUBMISSION_REVIEWED
from services.eventlog.envelope import Event
from services.intake.domain.events import DomainEvent, SubmissionReceived

SOURCE = "/score/intake"


class ReviewPayload(TypedDict):
    """The data of ``submission.reviewed.v1``."""

    submission_id: str
    form: str
    district: str
    status: str
    previous_status: str
    comment: str | None
    reviewer: str
    reviewed_at: str


def envelope(event: DomainEvent) -> Event:
    """The CloudEvent announcing ``event``.  Its id is minted from the submission (and the review's number),
    never at random, so no retry can announce the same change twice; its record key is the lineage's
    ``order_key``, so one enterprise's events stay in order on one partition."""
    if isinstance(event, SubmissionReceived):
        version = event.version
        return Event.new(
            type=SUBMISSION_CORRECTED if version["replaces"] else SUBMISSION_ACCEPTED,
            source=SOURCE,
            subject=version["submission_id"],
            key=event.order_key,
            data=version,
            id=f"{version['submission_id']}:received",
            time=event.at,
        )
    payload: ReviewPayload = {
        "submission_id": event.submission_id,
        "form": event.form,
        "district": event.district,
        "status": event.status,
        "previous_status": event.previous_status,
        "comment": event.comment,
        "reviewer": event.reviewer,
        "reviewed_at": event.at.isoformat(),
    }
    return Event.new(
        type=SUBMISSION_REVIEWED,
        source=SOURCE,
        subject=event.submission_id,
        key=event.order_key,
        data=payload,
        id=f"{event.submission_id}:review:{event.seq}",
        time=event.at,
    )
