"""A batch of validated submissions (an offline queue flushed at once), each accepted or refused on its own,
with the answers it would get one after the other, in far fewer transactions.

Consecutive first versions (no ``replaces``, not a rectification) read nothing, so a run of them is stored in
one transaction with one multi-row insert; only an id stored already (a retry, or the same id twice in the
batch) takes the careful one-by-one path afterwards, where it is answered as a retry or refused.  A
correction or a rectification reads what it names, so it goes one by one (``handlers.submit``) in its place
in the batch: whatever came before it is committed first, as when the items are posted one by one.  If the
run's transaction fails as a whole (another unique key, a rule refusing one item), the run is posted one by
one instead, so one item never costs the others their answer.

``audit`` (where the audit log shares the intake's database) gives the audit-log rows of items: each stored
item's entry is then written in the transaction that stores it (for a run, in its one statement), so it
stands or falls with the item and costs no transaction of its own; a retry or a refusal gets none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from services.intake.adapters.repository import RaceLost
from services.intake.domain.errors import DomainError
from services.intake.domain.model import RECTIFICATION, Submission, content_hash
from services.intake.forms import ValidSubmission
from services.intake.service_layer.handlers import Clock, Receipt, _receive, submit, utcnow
from services.intake.service_layer.unit_of_work import UnitOfWork

Outcome = Receipt | DomainError
#: the audit-log rows (``AccessStore.audit_rows``) of storing these items
Audit = Callable[[Sequence[ValidSubmission]], list[dict[str, Any]]]


def submit_all(
    new_uow: Callable[[], UnitOfWork],
    items: Sequence[ValidSubmission],
    clock: Clock = utcnow,
    audit: Audit | None = None,
) -> list[Outcome]:
    """The outcome of each item, in order: a receipt, or the domain rule it broke.  With ``audit``, each
    item stored (a receipt with ``created``) is audited in its own transaction; without, the caller audits."""
    outcomes: list[Outcome] = []
    run: list[ValidSubmission] = []
    for valid in items:
        if valid.replaces or valid.form == RECTIFICATION:
            outcomes += _store_run(new_uow, run, clock, audit)
            run = []
            outcomes.append(_one(new_uow, valid, clock, audit))
        else:
            run.append(valid)
    outcomes += _store_run(new_uow, run, clock, audit)
    return outcomes


def _audited(
    new_uow: Callable[[], UnitOfWork], items: Sequence[ValidSubmission], audit: Audit | None
) -> UnitOfWork:
    """A unit of work that writes the audit entries of those of ``items`` it stores, with them."""
    uow = new_uow()
    if audit is not None:
        uow.audit_with_commit(audit(items))
    return uow


def _one(
    new_uow: Callable[[], UnitOfWork], valid: ValidSubmission, clock: Clock, audit: Audit | None
) -> Outcome:
    try:
        return submit(_audited(new_uow, [valid], audit), valid, clock)
    except DomainError as exc:
        return exc


def _store_run(
    new_uow: Callable[[], UnitOfWork], run: list[ValidSubmission], clock: Clock, audit: Audit | None
) -> list[Outcome]:
    if not run:
        return []
    if len(run) == 1:
        return [_one(new_uow, run[0], clock, audit)]
    first: dict[str, int] = {}
    fresh = [k for k, v in enumerate(run) if first.setdefault(v.submission_id, k) == k]
    subs: dict[int, Submission] = {}
    try:
        uow = _audited(new_uow, [run[k] for k in fresh], audit)
        with uow:
            for k in fresh:
                subs[k] = _receive(uow, run[k], content_hash(run[k].canonical(shared=True)), clock)
            stored = uow.commit_new([subs[k] for k in fresh])
    except (RaceLost, DomainError):
        return [_one(new_uow, v, clock, audit) for v in run]
    outcomes: list[Outcome | None] = [
        Receipt(created=True, body=subs[k].receipt()) if k in subs and subs[k].id in stored else None
        for k in range(len(run))
    ]
    # ids stored before (retries) and repeats within the batch, after the run committed: as one by one
    return [o if o is not None else _one(new_uow, run[k], clock, audit) for k, o in enumerate(outcomes)]
