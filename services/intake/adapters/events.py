"""The intake's domain events as CloudEvents: the one place that knows their type, id, subject and key.

The domain raises plain records (``services.intake.domain.events``); this adapter gives each the envelope of
the public contract (``schemas/events/``) when the unit of work writes it into the outbox: as an
:class:`Event` (:func:`envelope`), or as an outbox row whose payload is still a value (:func:`outbox_row`), for
a statement that takes its rows as one JSON parameter and stores each payload as its canonical text.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.eventlog.contracts import SUBMISSION_ACCEPTED, SUBMISSION_CORRECTED, SUBMISSION_REVIEWED
from services.eventlog.envelope import Event, event_time
from services.intake.domain.events import VERSION_FIELDS, DomainEvent, SubmissionReceived

SOURCE = "/score/intake"


def _attributes(event: DomainEvent) -> tuple[str, str, str, Mapping[str, Any], str, datetime]:
    """(type, subject, key, data, id, time) of the CloudEvent announcing ``event``.  Its id is minted from the
    submission (and the review's number), never at random, so no retry can announce the same change twice;
    its record key is the lineage's ``order_key``, so one enterprise's events stay in order on one partition."""
    if isinstance(event, SubmissionReceived):
        version = event.version
        return (
            SUBMISSION_CORRECTED if version.replaces else SUBMISSION_ACCEPTED,
            version.submission_id,
            event.order_key,
            # its fields as they are: asdict() deep-copied every nested value only to serialise it (a fifth
            # of a batch item's CPU); the JSON is the same
            {name: getattr(version, name) for name in VERSION_FIELDS},
            f"{version.submission_id}:received",
            event.at,
        )
    submission_id = event.review["submission_id"]
    return (
        SUBMISSION_REVIEWED,
        submission_id,
        event.order_key,
        event.review,
        f"{submission_id}:review:{event.seq}",
        event.at,
    )


def envelope(event: DomainEvent) -> Event:
    """The CloudEvent announcing ``event``."""
    type_, subject, key, data, id_, at = _attributes(event)
    return Event.new(type=type_, source=SOURCE, subject=subject, key=key, data=data, id=id_, time=at)


def outbox_row(event: DomainEvent) -> dict[str, Any]:
    """The outbox row of :func:`envelope`'s event (``outbox.event_rows``), its ``data`` the payload's value,
    not its text: for a statement that takes the row inside one JSON parameter (keys sorted) and stores the
    payload's JSON text as it is there, the canonical text ``envelope`` would have written (the canonical
    JSON call and the payload's text escaped inside the parameter's were a tenth of a batch item's CPU)."""
    type_, subject, key, data, id_, at = _attributes(event)
    return {
        "event_id": id_,
        "type": type_,
        "source": SOURCE,
        "subject": subject,
        "key": key,
        "time": event_time(at),
        "data": data,
    }
