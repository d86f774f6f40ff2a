"""The intake's use cases against the in-memory unit of work (``tests.unit.fakes``): every rule the
handlers apply, in milliseconds.  The same promises are kept on SQLite and PostgreSQL by
``tests/integration/test_intake_api.py`` and ``test_review_retries.py``."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest

from services.intake.adapters.repository import RaceLost
from services.intake.domain import errors
from services.intake.domain.errors import DomainError
from services.intake.domain.events import SubmissionReceived, SubmissionReviewed
from services.intake.forms import ValidSubmission, validate
from services.intake.service_layer import handlers
from tests.builders import NOW, changed, inspection, rectification, survey
from tests.unit.fakes import FakeStore, FakeUnitOfWork


def clock() -> Any:
    return NOW


def valid(body: dict[str, Any]) -> ValidSubmission:
    return validate(body, NOW)


def submit(store: FakeStore, body: dict[str, Any]) -> handlers.Receipt:
    return handlers.submit(FakeUnitOfWork(store), valid(body), clock)


def review(
    store: FakeStore, sid: str, status: str = "approved", comment: str | None = None, **kw: Any
) -> Any:
    return handlers.review(FakeUnitOfWork(store), sid, status, comment, "bureau-1", clock, **kw)


def refused(code: str, call: Any, *args: Any, **kwargs: Any) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code
    return caught.value


def kinds(store: FakeStore) -> list[str]:
    return [type(e).__name__ for e in store.events]


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


# --- submit: retries ----------------------------------------------------------------------------------------


def test_a_submission_is_stored_with_its_event(store: FakeStore) -> None:
    body = inspection(failed=[("DUST-01", "dust_explosion", "major", "2026-12-20")])
    receipt = submit(store, body)
    assert receipt.created and receipt.body["submission_id"] == body["submission_id"]
    assert receipt.body["computed"]["score"] == 75.0
    assert list(store.submissions) == [body["submission_id"]] and kinds(store) == ["SubmissionReceived"]


def test_a_retried_submission_is_stored_once_with_the_original_receipt(store: FakeStore) -> None:
    body = inspection()
    first, again = submit(store, body), submit(store, body)
    assert (first.created, again.created, again.body) == (True, False, first.body)
    assert (len(store.submissions), len(store.events), store.commits) == (1, 1, 1)


def test_the_same_id_with_other_content_is_refused_and_nothing_is_written(store: FakeStore) -> None:
    body = inspection()
    submit(store, body)
    refused(errors.ID_REUSED, submit, store, changed(body, "data.enterprise.headcount", 46))
    assert (len(store.submissions), len(store.events), store.commits) == (1, 1, 1)


def test_a_retry_that_loses_the_race_is_answered_from_the_winners_row(store: FakeStore) -> None:
    body = inspection()
    store.before_next_write(lambda: submit(store, body))  # an identical post commits first
    receipt = submit(store, body)
    assert not receipt.created and receipt.body == store.submissions[body["submission_id"]].receipt()
    assert len(store.events) == 1


def test_other_content_that_loses_the_race_is_refused(store: FakeStore) -> None:
    body = inspection()
    store.before_next_write(lambda: submit(store, body))
    refused(errors.ID_REUSED, submit, store, changed(body, "data.enterprise.headcount", 46))
    assert len(store.events) == 1


def test_a_race_lost_for_no_rule_of_ours_is_not_hidden(store: FakeStore) -> None:
    class Broken(FakeUnitOfWork):
        def _commit(self, events: Any) -> None:
            raise RaceLost("an outbox event id clashed")

    with pytest.raises(RaceLost):
        handlers.submit(Broken(store), valid(inspection()), clock)
    assert store.submissions == {}


# --- submit: corrections ----------------------------------------------------------------------------------


def test_a_correction_supersedes_the_old_version_on_the_lineage_key(store: FakeStore) -> None:
    old = inspection(enterprise=1)
    submit(store, old)
    new = inspection(enterprise=2, replaces=old["submission_id"])
    assert submit(store, new).body["replaces"] == old["submission_id"]
    assert store.submissions[old["submission_id"]].superseded_by == new["submission_id"]
    accepted, corrected = store.events
    assert isinstance(accepted, SubmissionReceived) and isinstance(corrected, SubmissionReceived)
    assert corrected.order_key == accepted.order_key == old["data"]["enterprise"]["credit_code"]
    assert corrected.version.replaces == old["submission_id"]


def test_a_version_is_replaced_once_and_a_refused_correction_writes_nothing(store: FakeStore) -> None:
    old = inspection()
    submit(store, old)
    new = inspection(replaces=old["submission_id"])
    submit(store, new)
    refused(errors.ALREADY_REPLACED, submit, store, inspection(replaces=old["submission_id"]))
    refused(errors.UNKNOWN_SUBMISSION, submit, store, inspection(replaces=str(uuid.uuid4())))
    refused(errors.REPLACES_OTHER_FORM, submit, store, {**survey(), "replaces": new["submission_id"]})
    assert (len(store.submissions), len(store.events)) == (2, 2)


def test_a_correction_that_loses_the_race_names_the_winner(store: FakeStore) -> None:
    old = inspection()
    submit(store, old)
    winner = inspection(replaces=old["submission_id"])
    store.before_next_write(lambda: submit(store, winner))
    error = refused(errors.ALREADY_REPLACED, submit, store, inspection(replaces=old["submission_id"]))
    assert error.params == {"submission_id": old["submission_id"], "by": winner["submission_id"]}
    assert len(store.events) == 2


# --- submit: rectifications -------------------------------------------------------------------------------


def test_a_rectification_closes_a_hazard_of_the_inspection_and_follows_it(store: FakeStore) -> None:
    insp = inspection(enterprise=3, failed=[("ELEC-01", "electrical", "general", "2026-12-05")])
    submit(store, insp)
    uow = FakeUnitOfWork(store)
    receipt = handlers.submit(uow, valid(rectification(insp["submission_id"], "ELEC-01")), clock)
    hazard = receipt.body["computed"]["hazard"]
    assert (hazard["severity"], hazard["inspection_root"], hazard["found_on"]) == (
        "general",
        insp["submission_id"],
        "2026-11-20",
    )
    stored = store.submissions[receipt.body["submission_id"]]
    assert stored.enterprise == stored.order_key == insp["data"]["enterprise"]["credit_code"]
    # the inspection's first version was locked before the one-rectification rule was judged
    assert insp["submission_id"] in uow.transactions[0].locks


def test_a_rectification_needs_a_received_inspection_and_one_of_its_hazards(store: FakeStore) -> None:
    insp = inspection(failed=[("ELEC-01", "electrical", "general", "2026-12-05")])
    submit(store, insp)
    error = refused(errors.UNKNOWN_INSPECTION, submit, store, rectification(str(uuid.uuid4()), "ELEC-01"))
    assert error.path == "data.inspection_id"
    assert refused(
        errors.UNKNOWN_HAZARD, submit, store, rectification(insp["submission_id"], "ELEC-02")
    ).path == ("data.item_code")
    early = rectification(insp["submission_id"], "ELEC-01", on=date(2026, 11, 19))
    assert refused(errors.RECTIFIED_BEFORE_FOUND, submit, store, early).params == {"found_on": "2026-11-20"}
    assert len(store.submissions) == 1


def test_a_hazard_a_correction_removed_cannot_be_rectified(store: FakeStore) -> None:
    old = inspection(failed=[("FIRE-02", "fire", "general", "2026-12-01")])
    submit(store, old)
    submit(store, inspection(replaces=old["submission_id"]))
    refused(errors.UNKNOWN_HAZARD, submit, store, rectification(old["submission_id"], "FIRE-02"))


def test_a_hazard_is_rectified_once_unless_corrected_or_the_first_was_rejected(store: FakeStore) -> None:
    insp = inspection(failed=[("DUST-02", "dust_explosion", "major", "2026-12-05")])
    submit(store, insp)
    first = rectification(insp["submission_id"], "DUST-02")
    submit(store, first)
    error = refused(errors.ALREADY_RECTIFIED, submit, store, rectification(insp["submission_id"], "DUST-02"))
    assert (error.path, error.params["by"]) == ("data.item_code", first["submission_id"])
    fixed = {
        **rectification(insp["submission_id"], "DUST-02", on=date(2026, 11, 26)),
        "replaces": first["submission_id"],
    }
    assert submit(store, fixed).created  # a correction is fine
    review(store, fixed["submission_id"], "rejected", "照片显示未整改")
    assert submit(
        store, rectification(insp["submission_id"], "DUST-02")
    ).created  # the counting one was rejected


# --- review -----------------------------------------------------------------------------------------------


def _submitted(store: FakeStore) -> str:
    body = inspection()
    submit(store, body)
    return str(body["submission_id"])


def test_a_review_is_recorded_with_its_event(store: FakeStore) -> None:
    sid = _submitted(store)
    assert review(store, sid, "rejected", "照片缺失").body == {
        "submission_id": sid,
        "review_status": "rejected",
        "seq": 1,
    }
    assert review(store, sid).body["seq"] == 2
    assert store.submissions[sid].review_status == "approved"
    assert [r["status"] for r in store.reviews] == ["rejected", "approved"]
    assert kinds(store) == ["SubmissionReceived", "SubmissionReviewed", "SubmissionReviewed"]


def test_a_refused_review_writes_nothing(store: FakeStore) -> None:
    sid = _submitted(store)
    refused(errors.COMMENT_REQUIRED, review, store, sid, "rejected")
    refused(errors.INVALID_CHOICE, review, store, sid, "maybe")
    refused(errors.NOT_FOUND, review, store, str(uuid.uuid4()))
    assert (store.reviews, len(store.events), store.submissions[sid].review_status) == ([], 1, "pending")


def test_only_the_newest_version_is_reviewed(store: FakeStore) -> None:
    old = inspection()
    submit(store, old)
    submit(store, inspection(replaces=old["submission_id"]))
    refused(errors.NOT_CURRENT, review, store, old["submission_id"])


def test_a_retried_review_is_recorded_once_with_the_original_answer(store: FakeStore) -> None:
    sid = _submitted(store)
    key = str(uuid.uuid4())
    first = review(store, sid, "rejected", "照片缺失", review_id=key)
    again = review(store, sid, "rejected", "照片缺失", review_id=key)
    assert (first.replayed, again.replayed, again.body) == (False, True, first.body)
    assert first.body == {"submission_id": sid, "review_status": "rejected", "seq": 1, "review_id": key}
    assert (len(store.reviews), kinds(store).count("SubmissionReviewed")) == (1, 1)


def test_a_late_retry_gets_the_first_answer_even_after_a_later_review_and_a_correction(
    store: FakeStore,
) -> None:
    sid = _submitted(store)
    key = str(uuid.uuid4())
    first = review(store, sid, "rejected", "照片缺失", review_id=key)
    review(store, sid, review_id=str(uuid.uuid4()))
    submit(store, inspection(replaces=sid))
    late = review(store, sid, "rejected", "照片缺失", review_id=key)
    assert late.replayed and late.body == first.body
    assert len(store.reviews) == 2


def test_a_review_id_with_other_content_is_refused(store: FakeStore) -> None:
    sid = _submitted(store)
    key = str(uuid.uuid4())
    review(store, sid, review_id=key)
    assert (
        refused(errors.REVIEW_ID_REUSED, review, store, sid, "has_issues", review_id=key).path == "review_id"
    )
    assert len(store.reviews) == 1


def test_a_review_retry_that_loses_the_race_is_answered_from_the_winners_row(store: FakeStore) -> None:
    sid = _submitted(store)
    key = str(uuid.uuid4())
    store.before_next_write(lambda: review(store, sid, review_id=key))
    answer = review(store, sid, review_id=key)
    assert answer.replayed and answer.body["seq"] == 1
    assert len(store.reviews) == 1


def test_two_reviews_racing_for_one_number_without_review_ids_refuse_the_loser(store: FakeStore) -> None:
    sid = _submitted(store)
    store.before_next_write(lambda: review(store, sid))
    refused(errors.CONCURRENT_REVIEW, review, store, sid, "has_issues")
    assert [r["status"] for r in store.reviews] == ["approved"]


# --- reading, and the identity map ------------------------------------------------------------------------


def test_a_submission_is_read_back_with_its_versions_and_reviews(store: FakeStore) -> None:
    old = inspection()
    submit(store, old)
    review(store, old["submission_id"], "rejected", "照片缺失")
    new = inspection(replaces=old["submission_id"])
    submit(store, new)
    got = handlers.get_submission(FakeUnitOfWork(store), old["submission_id"])
    assert (got["current"], got["superseded_by"]) == (False, new["submission_id"])
    assert [v["submission_id"] for v in got["versions"]] == [old["submission_id"], new["submission_id"]]
    assert [h["status"] for h in got["review"]["history"]] == ["rejected"]
    refused(errors.NOT_FOUND, handlers.get_submission, FakeUnitOfWork(store), str(uuid.uuid4()))


def test_one_transaction_holds_one_object_per_submission(store: FakeStore) -> None:
    old = inspection()
    submit(store, old)
    submit(store, inspection(replaces=old["submission_id"]))
    with FakeUnitOfWork(store) as uow:
        lineage = uow.submissions.history(old["submission_id"])
        again = uow.submissions.get(old["submission_id"], for_update=True)
        assert again is lineage[0] and uow.submissions.get(lineage[1].id) is lineage[1]
        again.review_comment = "changed through one reference"
        assert lineage[0].review_comment == "changed through one reference"  # no stale second copy to save
        assert uow.submissions.locks == [old["submission_id"]]  # the lock is still taken on a cached row


def test_nothing_is_stored_unless_the_unit_of_work_commits(store: FakeStore) -> None:
    sid = _submitted(store)
    with FakeUnitOfWork(store) as uow:
        sub = uow.submissions.get(sid)
        assert sub is not None
        sub.review("approved", None, "bureau-1", NOW + timedelta(hours=1), seq=1)
        uow.submissions.save(sub)
    assert store.submissions[sid].review_status == "pending" and len(store.events) == 1


def test_the_events_a_submission_raised_are_handed_over_once(store: FakeStore) -> None:
    sid = _submitted(store)
    with FakeUnitOfWork(store) as uow:
        sub = uow.submissions.get(sid)
        assert sub is not None
        sub.review("approved", None, "bureau-1", NOW, seq=1)
        uow.submissions.save(sub)
        uow.commit()
        assert sub.events == []
    [reviewed] = store.events[1:]
    assert isinstance(reviewed, SubmissionReviewed) and reviewed.review["status"] == "approved"
