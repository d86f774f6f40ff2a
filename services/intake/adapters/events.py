"""The intake's domain events as CloudEvents: the one place that knows their type, id, subject and key.

The domain raises plain records (``services.intake.domain.events``); this adapter gives each the envelope of
the public contract (``schemas/events/``) when the unit of work writes it into the outbox.
"""

from __future__ import annotations

from services.eventlog.contracts import SUBMISSION_ACCEPTED, SUBMISSION_CORRECTED, SUBMISSION_REVIEWED
from services.eventlog.envelope import Event
from services.intake.domain.events import VERSION_FIELDS, DomainEvent, SubmissionReceived

SOURCE = "/score/intake"


def envelope(event: DomainEvent) -> Event:
    """The CloudEvent announcing ``event``.  Its id is minted from the submission (and the review's number),
    never at random, so no retry can announce the same change twice; its record key is the lineage's
    ``order_key``, so one enterprise's events stay in order on one partition."""
    if isinstance(event, SubmissionReceived):
        version = event.version
        return Event.new(
            type=SUBMISSION_CORRECTED if version.replaces else SUBMISSION_ACCEPTED,
            source=SOURCE,
            subject=version.submission_id,
            key=event.order_key,
            # its fields as they are: asdict() deep-copied every nested value only to serialise it (a fifth
            # of a batch item's CPU); the JSON is the same
            data={name: getattr(version, name) for name in VERSION_FIELDS},
            id=f"{version.submission_id}:received",
            time=event.at,
        )
    return Event.new(
        type=SUBMISSION_REVIEWED,
        source=SOURCE,
        subject=event.review["submission_id"],
        key=event.order_key,
        data=event.review,
        id=f"{event.review['submission_id']}:review:{event.seq}",
        time=event.at,
    )
