"""The rules of the domain a well-formed request can still break, each with a stable code.

A :class:`DomainError` says *which* rule (``code``), *where* in the request (``path``, "" for the request as a
whole) and the values its message needs (``params``).  It carries no wording and no HTTP status: the messages,
in English and Chinese, come from the one error catalogue the forms use (``services.intake.forms.errors``),
and the entrypoints map codes to statuses.  Codes are stable: clients switch on them.
"""

from __future__ import annotations

# retries and corrections
ID_REUSED = "id_reused"  #: a submission id already stored with other content
ALREADY_REPLACED = "already_replaced"  #: a version may be replaced once
REPLACES_OTHER_FORM = "replaces_other_form"  #: a correction is of the same form
UNKNOWN_SUBMISSION = "unknown_submission"  #: ``replaces`` names nothing stored
# rectifications
UNKNOWN_INSPECTION = "unknown_inspection"  #: the named factory inspection was never received
UNKNOWN_HAZARD = "unknown_hazard"  #: the inspection's newest version found no hazard at that item
RECTIFIED_BEFORE_FOUND = "rectified_before_found"  #: fixed before the inspection that found it
ALREADY_RECTIFIED = "already_rectified"  #: a hazard has one counting rectification
# reviews
INVALID_CHOICE = "invalid_choice"  #: not a review decision (the forms use the same code for any enum)
COMMENT_REQUIRED = "comment_required"  #: a rejection says why
NOT_CURRENT = "not_current"  #: only the newest version is reviewed
REVIEW_ID_REUSED = "review_id_reused"  #: a review id already recorded with other content
CONCURRENT_REVIEW = "concurrent_review"  #: another review took the same sequence number
# reading
NOT_FOUND = "not_found"  #: no such submission
# evidence photos (services.intake.domain.attachments)
ATTACHMENT_TYPE = "attachment_type"  #: a Content-Type that is not an allowed image type
ATTACHMENT_TOO_LARGE = "attachment_too_large"  #: more bytes than SCORE_ATTACHMENT_MAX_BYTES
ATTACHMENT_CONTENT = "attachment_content"  #: bytes that are not (a whole image of) the type sent
ATTACHMENT_ID_REUSED = "attachment_id_reused"  #: an attachment id already stored with other bytes
UNKNOWN_ATTACHMENT = "unknown_attachment"  #: a submission names a photo the intake does not hold for it
ATTACHMENT_NOT_FOUND = "attachment_not_found"  #: no such attachment

#: every code a DomainError can carry (the catalogue and the entrypoints' status table are tested against it)
CODES = (
    ID_REUSED,
    ALREADY_REPLACED,
    REPLACES_OTHER_FORM,
    UNKNOWN_SUBMISSION,
    UNKNOWN_INSPECTION,
    UNKNOWN_HAZARD,
    RECTIFIED_BEFORE_FOUND,
    ALREADY_RECTIFIED,
    INVALID_CHOICE,
    COMMENT_REQUIRED,
    NOT_CURRENT,
    REVIEW_ID_REUSED,
    CONCURRENT_REVIEW,
    NOT_FOUND,
    ATTACHMENT_TYPE,
    ATTACHMENT_TOO_LARGE,
    ATTACHMENT_CONTENT,
    ATTACHMENT_ID_REUSED,
    UNKNOWN_ATTACHMENT,
    ATTACHMENT_NOT_FOUND,
)


class DomainError(Exception):
    """A request that is well-formed but breaks the rule ``code`` (at ``path`` of the request, if any)."""

    def __init__(self, code: str, path: str = "", **params: str) -> None:
        super().__init__(f"{code}: {params}" if params else code)
        self.code = code
        self.path = path
        self.params = params
