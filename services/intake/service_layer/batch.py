"""A batch of validated submissions (an offline queue flushed at once), each accepted or refused on its own,
with the answers it would get one after the other, in far fewer transactions.

Consecutive first versions (no ``replaces``, not a rectification) read nothing, so a run of them is stored in
one transaction with one multi-row insert; only an id stored already (a retry, or the same id twice in the
batch) takes the careful one-by-one path afterwards, where it is answered as a retry or refused.  A
correction or a rectification reads what it names, so it goes one by one (``handlers.submit``) in its place
in the batch: whatever came before it is committed first, as when the items are posted one by one.  If the
run's transaction fails as a whole (another unique key, a rule refusing one item), the run is posted one by
one instead, so one item never costs the others their answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from services.intake.adapters.repository import RaceLost
from services.intake.domain.errors import DomainError
from services.intake.domain.model import RECTIFICATION, Submission, content_hash
from services.intake.forms import ValidSubmission
from services.intake.service_layer.handlers import Clock, Receipt, _receive, submit, utcnow
from services.intake.service_layer.unit_of_work import UnitOfWork

Outcome = Receipt | DomainError


def submit_all(
    new_uow: Callable[[], UnitOfWork], items: Sequence[ValidSubmission], clock: Clock = utcnow
) -> list[Outcome]:
    """The outcome of each item, in order: a receipt, or the domain rule it broke."""
    outcomes: list[Outcome] = []
    run: list[ValidSubmission] = []
    for valid in items:
        if valid.replaces or valid.form == RECTIFICATION:
            outcomes += _store_run(new_uow, run, clock)
            run = []
            outcomes.append(_one(new_uow, valid, clock))
        else:
            run.append(valid)
    outcomes += _store_run(new_uow, run, clock)
    return outcomes


def _one(new_uow: Callable[[], UnitOfWork], valid: ValidSubmission, clock: Clock) -> Outcome:
    try:
        return submit(new_uow(), valid, clock)
    except DomainError as exc:
        return exc


def _store_run(new_uow: Callable[[], UnitOfWork], run: list[ValidSubmission], clock: Clock) -> list[Outcome]:
    if not run:
        return []
    if len(run) == 1:
        return [_one(new_uow, run[0], clock)]
    first: dict[str, int] = {}
    fresh = [k for k, v in enumerate(run) if first.setdefault(v.submission_id, k) == k]
    subs: dict[int, Submission] = {}
    try:
        uow = new_uow()
        with uow:
            for k in fresh:
                subs[k] = _receive(uow, run[k], content_hash(run[k].canonical(shared=True)), clock)
            stored = uow.commit_new([subs[k] for k in fresh])
    except (RaceLost, DomainError):
        return [_one(new_uow, v, clock) for v in run]
    outcomes: list[Outcome | None] = [
        Receipt(created=True, body=subs[k].receipt()) if k in subs and subs[k].id in stored else None
        for k in range(len(run))
    ]
    # ids stored before (retries) and repeats within the batch, after the run committed: as one by one
    return [o if o is not None else _one(new_uow, run[k], clock) for k, o in enumerate(outcomes)]
