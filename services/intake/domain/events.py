"""What happened to a submission, as the domain says it: plain records, no envelope and no transport.

The aggregate appends them to its ``events``; the unit of work hands them to an adapter
(``services.intake.adapters.events``) that writes each into the outbox as a CloudEvent in the same
transaction as the change.  ``order_key`` names the lineage whose events must be read in the order they
happened (one enterprise's inspections, rectifications, corrections and reviews).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, TypedDict


@dataclass(kw_only=True)
class Version:
    """One stored version of a submission, as it is published and read back (``submission_version`` in
    ``schemas/events/submission.accepted.v1.schema.json``).  The one list of these fields: the aggregate
    (``model.Submission``) is a version with its lineage's and its review's state added."""

    submission_id: str
    form: str
    form_version: int
    district: str
    enterprise: str | None
    collector: dict[str, Any]
    collected_at: str
    received_at: str
    replaces: str | None
    data: dict[str, Any]
    computed: dict[str, Any]


#: :class:`Version`'s field names, in order: read once (``dataclasses.fields`` on every event was a slow walk)
VERSION_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Version))


@dataclass(frozen=True)
class SubmissionReceived:
    """A version was stored: a first version, or a correction when ``version.replaces`` names one."""

    version: Version
    order_key: str
    at: datetime


class Review(TypedDict):
    """A review of a submission's current version, as it is published (``submission.reviewed.v1``)."""

    submission_id: str
    form: str
    district: str
    status: str
    previous_status: str
    comment: str | None
    reviewer: str
    reviewed_at: str


@dataclass(frozen=True)
class SubmissionReviewed:
    """The current version was reviewed; ``seq`` numbers the submission's reviews from 1."""

    review: Review
    seq: int
    order_key: str
    at: datetime


DomainEvent = SubmissionReceived | SubmissionReviewed
