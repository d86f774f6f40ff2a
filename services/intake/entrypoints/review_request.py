"""What a review request must look like before the domain judges it (the decision itself is the domain's)."""

from __future__ import annotations

import re
from typing import Any

from services.intake.entrypoints import jsonbody
from services.intake.forms.errors import FieldError, Tr, make
from services.intake.forms.formats import OBJECT, STRING, UUID, UUID_PATTERN

#: a submission's or a review's id: a UUID in its 36-character form (the forms' pattern).  Checked before
#: the database sees it: PostgreSQL refuses a NUL character in a query parameter with an error, not a miss.
SUBMISSION_ID = re.compile(UUID_PATTERN)
#: C0 controls and DEL; a comment keeps tabs and line breaks.  PostgreSQL cannot store NUL in text at all.
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
REVIEWER_MAX = 64  # the reviewer columns' width
COMMENT_MAX = 2000

_REVIEWER = Tr(
    f"1 to {REVIEWER_MAX} characters without control characters", f"1 至 {REVIEWER_MAX} 个字符，不含控制字符"
)
_COMMENT = Tr(
    f"at most {COMMENT_MAX} characters without control characters", f"至多 {COMMENT_MAX} 个字符，不含控制字符"
)


def review_errors(body: Any) -> list[FieldError]:
    """Every reason the review body cannot be recorded, by path (empty when it can)."""
    if not isinstance(body, dict):
        return [make("", "invalid_type", expected=OBJECT)]
    ambiguous = jsonbody.problems(body)
    if ambiguous:
        return [p.field_error() for p in ambiguous]
    errors = []
    if not isinstance(body.get("status"), str) or not body["status"]:
        errors.append(make("status", "required"))
    reviewer, comment = body.get("reviewer"), body.get("comment")
    if reviewer is not None and not isinstance(reviewer, str):  # optional: the credential names the reviewer
        errors.append(make("reviewer", "invalid_type", expected=STRING))
    if isinstance(reviewer, str) and (
        not reviewer or len(reviewer) > REVIEWER_MAX or _CONTROL.search(reviewer)
    ):
        errors.append(make("reviewer", "invalid_format", expected=_REVIEWER))
    if comment is not None and not isinstance(comment, str):
        errors.append(make("comment", "invalid_type", expected=STRING))
    elif isinstance(comment, str) and (len(comment) > COMMENT_MAX or _CONTROL_IN_TEXT.search(comment)):
        errors.append(make("comment", "invalid_format", expected=_COMMENT))
    review_id = body.get("review_id")
    if review_id is not None and not (isinstance(review_id, str) and SUBMISSION_ID.fullmatch(review_id)):
        errors.append(make("review_id", "invalid_format", expected=UUID))
    return errors
