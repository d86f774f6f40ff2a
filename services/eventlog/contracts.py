"""The event types both services agree on, defined once.

The intake writes these types into the outbox; the aggregator switches on them.  What each payload holds is
the public contract in ``schemas/events/`` (one JSON Schema per type, checked by the contract tests); a
consumer reads only the fields it needs and imports nothing else of the producer.
"""

from __future__ import annotations

from services.eventlog.envelope import TYPE_PREFIX

#: a submission replacing nothing was stored (``schemas/events/submission.accepted.v1.schema.json``)
SUBMISSION_ACCEPTED = TYPE_PREFIX + "submission.accepted.v1"
#: a correction (a submission that ``replaces`` an earlier version) was stored
SUBMISSION_CORRECTED = TYPE_PREFIX + "submission.corrected.v1"
#: the current version of a submission was reviewed
SUBMISSION_REVIEWED = TYPE_PREFIX + "submission.reviewed.v1"
