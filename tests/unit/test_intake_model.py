"""The submission model's rules without storage: retries, corrections, rectifications and reviews."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.eventlog.contracts import SUBMISSION_ACCEPTED, SUBMISSION_CORRECTED, SUBMISSION_REVIEWED
from services.intake.adapters.events import SOURCE, envelope
from services.intake.domain import errors
from services.intake.domain.errors import DomainError
from services.intake.domain.events import SubmissionReceived, SubmissionReviewed
from services.intake.domain.model import StoredReview, Submission, hazard_to_rectify, review_request_hash
from services.intake.entrypoints.responses import STATUS
from services.intake.forms.errors import MESSAGES, render

AT = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
ENTERPRISE = "91330784MA0000001X"
HAZARD = {
    "hazard_id": "i1:DUST-01",
    "item_code": "DUST-01",
    "category": "dust_explosion",
    "severity": "major",
    "deadline": "2026-12-20",
}


def version(
    id: str,
    form: str = "factory_inspection",
    enterprise: str | None = ENTERPRISE,
    replaces: str | None = None,
    replacing: Submission | None = None,
    hazards: list[dict[str, Any]] | None = None,
    content_hash: str = "h",
) -> Submission:
    return Submission.receive(
        id=id,
        form=form,
        form_version=1,
        district="330784",
        enterprise=enterprise,
        collector={"id": "insp-0042", "role": "inspector"},
        collected_at=AT - timedelta(hours=1),
        received_at=AT,
        content_hash=content_hash,
        data={"inspection_date": "2026-11-20", "enterprise": {"industry": "C33"}},
        computed={"hazards": [HAZARD] if hazards is None else hazards},
        replaces=replaces,
        replacing=replacing,
    )


def broken(code: str, call: Any, *args: Any, **kwargs: Any) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call(*args, **kwargs)
    error = caught.value
    assert error.code == code
    message = render(error.code, error.params)  # the values the error carries are the ones its words need
    assert "{" not in message["en"] + message["zh"] and message["en"] != message["zh"]
    return error


# --- first versions, retries ------------------------------------------------------------------------------


def test_a_first_version_is_announced_once_under_its_enterprise() -> None:
    sub = version("i1")
    [event] = sub.events
    assert isinstance(event, SubmissionReceived)
    assert (event.order_key, event.at, event.version.replaces) == (ENTERPRISE, AT, None)
    assert event.version.submission_id == "i1" and sub.received_at == AT.isoformat()


def test_a_form_without_an_enterprise_is_ordered_by_its_district() -> None:
    assert version("s1", form="worker_survey", enterprise=None).order_key == "330784"


def test_a_retry_with_the_same_content_gets_the_same_receipt() -> None:
    sub = version("i1", content_hash="abc")
    assert sub.retried("abc") == sub.receipt()


def test_the_same_id_with_other_content_is_refused_at_submission_id() -> None:
    error = broken(errors.ID_REUSED, version("i1", content_hash="abc").retried, "other")
    assert (error.path, error.params) == ("submission_id", {"submission_id": "i1"})


# --- corrections ------------------------------------------------------------------------------------------


def test_a_correction_supersedes_and_keeps_the_lineage_order_even_for_another_enterprise() -> None:
    old = version("i1")
    new = version("i2", enterprise="91330784MA0000002X", replaces="i1", replacing=old)
    assert (old.superseded_by, old.current, new.current) == ("i2", False, True)
    [event] = new.events
    assert isinstance(event, SubmissionReceived)
    assert (event.order_key, event.version.replaces) == (ENTERPRISE, "i1")


def test_a_version_is_replaced_once() -> None:
    old = version("i1")
    version("i2", replaces="i1", replacing=old)
    error = broken(errors.ALREADY_REPLACED, version, "i3", replaces="i1", replacing=old)
    assert (error.path, error.params) == ("replaces", {"submission_id": "i1", "by": "i2"})


def test_a_correction_is_of_the_same_form() -> None:
    old = version("s1", form="worker_survey")
    error = broken(errors.REPLACES_OTHER_FORM, version, "i2", replaces="s1", replacing=old)
    assert old.current and error.params == {"form": "factory_inspection", "replaced_form": "worker_survey"}


def test_a_correction_of_nothing_stored_is_refused() -> None:
    error = broken(errors.UNKNOWN_SUBMISSION, version, "i2", replaces="nope", replacing=None)
    assert error.path == "replaces"


# --- rectifications ---------------------------------------------------------------------------------------


def test_a_hazard_is_judged_on_the_newest_version_and_named_by_the_first() -> None:
    first = version("i1")
    newest = version("i2", replaces="i1", replacing=first)
    hazard = hazard_to_rectify([first, newest], "i1", "DUST-01", date(2026, 11, 25))
    assert hazard.facts == {
        **HAZARD,
        "inspection_id": "i2",
        "inspection_root": "i1",
        "found_on": "2026-11-20",
        "district": "330784",
        "industry": "C33",
    }
    assert (hazard.ref, hazard.enterprise, hazard.order_key) == ("i1:DUST-01", ENTERPRISE, ENTERPRISE)


def test_a_rectification_names_a_received_factory_inspection() -> None:
    broken(errors.UNKNOWN_INSPECTION, hazard_to_rectify, [], "i9", "DUST-01", date(2026, 11, 25))
    survey = version("s1", form="worker_survey")
    error = broken(
        errors.UNKNOWN_INSPECTION, hazard_to_rectify, [survey], "s1", "DUST-01", date(2026, 11, 25)
    )
    assert error.path == "data.inspection_id"


def test_a_hazard_a_correction_removed_cannot_be_rectified() -> None:
    first = version("i1")
    newest = version("i2", replaces="i1", replacing=first, hazards=[])
    error = broken(
        errors.UNKNOWN_HAZARD, hazard_to_rectify, [first, newest], "i1", "DUST-01", date(2026, 11, 25)
    )
    assert (error.path, error.params) == ("data.item_code", {"inspection_id": "i1", "item_code": "DUST-01"})


def test_a_hazard_is_not_fixed_before_it_was_found() -> None:
    lineage = [version("i1")]
    assert hazard_to_rectify(lineage, "i1", "DUST-01", date(2026, 11, 20)).facts["found_on"] == "2026-11-20"
    error = broken(
        errors.RECTIFIED_BEFORE_FOUND, hazard_to_rectify, lineage, "i1", "DUST-01", date(2026, 11, 19)
    )
    assert (error.path, error.params) == ("data.rectified_on", {"found_on": "2026-11-20"})


def test_a_hazard_has_one_counting_rectification_unless_it_is_corrected() -> None:
    hazard = hazard_to_rectify([version("i1")], "i1", "DUST-01", date(2026, 11, 25))
    hazard.claim(None, replaces=None)  # the first
    hazard.claim("r1", replaces="r1")  # a correction of the counting one
    error = broken(errors.ALREADY_RECTIFIED, hazard.claim, "r1", replaces=None)
    assert error.params == {"inspection_id": "i1", "item_code": "DUST-01", "by": "r1"}


def test_a_rectification_follows_the_inspection_it_closes() -> None:
    hazard = hazard_to_rectify([version("i1")], "i1", "DUST-01", date(2026, 11, 25))
    rect = Submission.receive(
        id="r1",
        form="hazard_rectification",
        form_version=1,
        district="330784",
        enterprise=None,
        collector={"id": "insp-0042", "role": "inspector"},
        collected_at=AT,
        received_at=AT,
        content_hash="h",
        data={},
        computed={},
        rectifies=hazard,
    )
    assert (rect.enterprise, rect.order_key, rect.hazard_ref) == (ENTERPRISE, ENTERPRISE, "i1:DUST-01")
    assert rect.computed["hazard"]["inspection_root"] == "i1"


# --- reviews ----------------------------------------------------------------------------------------------


def test_a_review_moves_the_state_and_is_announced_with_its_number() -> None:
    sub = version("i1")
    sub.events.clear()
    sub.review("rejected", "照片缺失", "bureau-1", AT, seq=1)
    sub.review("approved", None, "bureau-2", AT, seq=2)
    assert (sub.review_status, sub.reviewer, sub.reviewed_at) == ("approved", "bureau-2", AT.isoformat())
    first, second = sub.events
    assert isinstance(first, SubmissionReviewed) and isinstance(second, SubmissionReviewed)
    assert (first.seq, first.review["previous_status"], second.review["previous_status"]) == (
        1,
        "pending",
        "rejected",
    )


@pytest.mark.parametrize(
    ("decision", "comment", "code", "path"),
    [
        ("maybe", None, errors.INVALID_CHOICE, "status"),
        ("rejected", None, errors.COMMENT_REQUIRED, "comment"),
        ("rejected", "  \n", errors.COMMENT_REQUIRED, "comment"),
    ],
)
def test_review_rules(decision: str, comment: str | None, code: str, path: str) -> None:
    sub = version("i1")
    assert broken(code, sub.review, decision, comment, "bureau-1", AT, 1).path == path
    assert sub.review_status == "pending" and len(sub.events) == 1


def test_only_the_current_version_is_reviewed() -> None:
    old = version("i1")
    version("i2", replaces="i1", replacing=old)
    error = broken(errors.NOT_CURRENT, old.review, "approved", None, "bureau-1", AT, 1)
    assert (error.path, error.params) == ("", {"submission_id": "i1", "by": "i2"})


def test_a_review_retry_must_ask_for_the_same() -> None:
    asked = review_request_hash("i1", "approved", None, "bureau-1")
    stored = StoredReview("k1", "i1", 3, "approved", asked)
    assert stored.retried(review_request_hash("i1", "approved", None, "bureau-1")) == {
        "submission_id": "i1",
        "review_status": "approved",
        "seq": 3,
        "review_id": "k1",
    }
    other = review_request_hash("i1", "approved", "再看看", "bureau-1")
    assert broken(errors.REVIEW_ID_REUSED, stored.retried, other).path == "review_id"


# --- codes, messages, envelopes ---------------------------------------------------------------------------


@pytest.mark.parametrize("code", errors.CODES)
def test_every_domain_code_has_a_message_and_a_status(code: str) -> None:
    # (every error these tests provoke is also rendered with the values it carries: see ``broken``)
    assert code in MESSAGES
    assert STATUS[code] in (404, 409, 413, 415, 422)


def test_domain_events_become_the_published_envelopes() -> None:
    old = version("i1")
    new = version("i2", replaces="i1", replacing=old)
    new.review("approved", None, "bureau-1", AT, seq=1)
    accepted, corrected, reviewed = (envelope(e) for e in [*old.events, *new.events])
    assert (accepted.type, accepted.id, accepted.key, accepted.source) == (
        SUBMISSION_ACCEPTED,
        "i1:received",
        ENTERPRISE,
        SOURCE,
    )
    assert (corrected.type, corrected.subject, corrected.data["replaces"]) == (
        SUBMISSION_CORRECTED,
        "i2",
        "i1",
    )
    assert (reviewed.type, reviewed.id, reviewed.time) == (
        SUBMISSION_REVIEWED,
        "i2:review:1",
        "2026-11-27T04:00:00Z",
    )
    assert reviewed.data == {
        "submission_id": "i2",
        "form": "factory_inspection",
        "district": "330784",
        "status": "approved",
        "previous_status": "pending",
        "comment": None,
        "reviewer": "bureau-1",
        "reviewed_at": AT.isoformat(),
    }
