"""Send a demo plan through the intake's API, in the order a field team would: inspections and surveys as
their phones flush them (batches), then corrections, then rectifications, then the bureau's reviews.

Rerunning is safe: every submission and review has the id the plan gave it, so the intake answers a repeat
with 200 and the original receipt (stored once, no second event) and the result counts it as ``replayed``.
A run on a later day first asks the intake for the plan's first inspection and, when it is there, replays
the plan on the anchor day the first run used, so that nothing is sent twice with other dates.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from services.common import clock
from services.demo.client import IntakeClient
from services.demo.plan import Plan, make_plan


class SeedError(Exception):
    """The demo cannot be sent as asked (explained in one line)."""


@dataclass
class Result:
    plan: Plan
    created: Counter[str] = field(default_factory=Counter)
    replayed: Counter[str] = field(default_factory=Counter)
    #: (what, submission id, status, error code, path) of every item the intake refused
    refused: list[tuple[str, str, int, str, str]] = field(default_factory=list)
    seconds: float = 0.0
    requests: int = 0
    #: the intake held this seed already, sent on another day: the plan was replayed on that day's anchor
    resumed: bool = False

    @property
    def sent(self) -> int:
        return sum(self.created.values()) + sum(self.replayed.values()) + len(self.refused)

    @property
    def ok(self) -> bool:
        return not self.refused


Progress = Callable[[int], None]


def steps(plan: Plan) -> int:
    """How many items ``seed`` sends (for a progress bar): submissions and reviews."""
    return plan.submissions + len(plan.reviews)


def resolve_plan(
    client: IntakeClient, seed: int, size: str, anchor: date | None = None, today: date | None = None
) -> tuple[Plan, bool]:
    """The plan to send: on ``anchor`` (default ``today``, China's), unless the intake already holds this
    seed's first inspection, in which case on the anchor that inspection was made with (then True)."""
    plan = make_plan(seed, size, anchor or today or clock.today())
    probe_id, back = plan.probe
    answer = client.get_submission(probe_id)
    if answer.status != 200 or not isinstance(answer.body, dict):
        return plan, False  # not there yet (404), or this credential may not read it (403): as planned
    first = date.fromisoformat(answer.body["data"]["inspection_date"]) + timedelta(days=back)
    if first == plan.anchor:
        return plan, False
    if anchor is not None:
        raise SeedError(
            f"seed {seed} ({size}) was sent before with anchor {first}, not {anchor}: rerun with "
            f"--anchor {first} (or without --anchor), or choose another --seed for more data"
        )
    return make_plan(seed, size, first), True


def send(
    client: IntakeClient,
    plan: Plan,
    *,
    reviewer: IntakeClient | None = None,
    batch_size: int = 100,
    progress: Progress | None = None,
    resumed: bool = False,
) -> Result:
    """Send ``plan`` (see the module's docstring); ``reviewer`` posts the reviews (default: ``client``)."""
    started = time.monotonic()
    result = Result(plan, resumed=resumed)
    tick = progress or (lambda _n: None)
    for what, items in (
        ("submission", plan.first_versions),
        ("correction", plan.corrections),
        ("rectification", plan.rectifications),
    ):
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            for body, answer in zip(chunk, client.post_batch(chunk), strict=True):
                _count(result, what if what != "submission" else body["form"], body, answer)
            tick(len(chunk))
    reviewer = reviewer or client
    for r in plan.reviews:
        review: dict[str, Any] = {"status": r.status, "review_id": r.review_id}
        if r.comment:
            review["comment"] = r.comment
        reply = reviewer.review(r.submission_id, review)
        if reply.status == 200:
            replay = reply.headers.get("Idempotent-Replayed") == "true"
            (result.replayed if replay else result.created)[f"review.{r.status}"] += 1
        else:
            result.refused.append(("review", r.submission_id, reply.status, *_error(reply.body)))
        tick(1)
    result.seconds = time.monotonic() - started
    result.requests = client.requests + (reviewer.requests if reviewer is not client else 0)
    return result


def _count(result: Result, what: str, body: dict[str, Any], answer: dict[str, Any]) -> None:
    status = answer["status"]
    if status == 201:
        result.created[what] += 1
    elif status == 200:
        result.replayed[what] += 1
    else:
        result.refused.append((what, body["submission_id"], status, *_error(answer)))


def _error(body: Any) -> tuple[str, str]:
    """(code, path of the first error) of an error answer, for one line of the summary."""
    if not isinstance(body, dict):
        return "error", ""
    errors = body.get("errors") or [{}]
    return str(body.get("code") or "error"), str(errors[0].get("path", ""))


def summary(result: Result) -> list[str]:
    """The lines ``score demo seed`` prints at the end."""
    plan = result.plan
    c = plan.counts()
    lines = [
        f"demo seed {plan.seed} ({plan.size}), {plan.anchor - timedelta(days=364)} to "
        f"{plan.anchor - timedelta(days=1)}"
        + (f" (resumed on the first run's anchor {plan.anchor})" if result.resumed else ""),
        f"  {c['enterprises']} enterprises in Hangzhou, Jinhua and Yongkang; {c['inspections']} inspections "
        f"finding {c['hazards']} hazards; {c['rectifications']} rectifications ({c['rectified_late']} late); "
        f"{c['corrections']} corrections; reviews: {c['rejections']} rejected, {c['approvals']} approved",
        f"  {c['surveys']} worker surveys in {c['survey_cells_visible']} published county-month cells and "
        f"{c['survey_cells_suppressed']} suppressed ones (fewer than 5 respondents)",
        f"  intake: {sum(result.created.values())} new, {sum(result.replayed.values())} already there "
        f"(retries recognised, stored once), {len(result.refused)} refused; {result.requests} requests in "
        f"{result.seconds:.1f} s",
    ]
    for what, sid, status, code, path in result.refused[:10]:
        lines.append(f"  REFUSED {what} {sid}: {status} {code} {path}")
    return lines
