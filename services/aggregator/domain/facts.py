"""A fact: the version of a submission that counts now, and whether it counts at all.

Corrections replace a lineage's fact (the old version's contribution is retracted, the new one applied);
a rejection keeps the fact but stops it counting; approval or has_issues makes it count again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import cached_property, lru_cache
from typing import Any

from services.common.clock import CHINA
from services.common.codes import canonical_district
from services.common.frozen import quick_init
from services.eventlog.contracts import SUBMISSION_ACCEPTED as ACCEPTED
from services.eventlog.contracts import SUBMISSION_CORRECTED as CORRECTED
from services.eventlog.contracts import SUBMISSION_REVIEWED as REVIEWED

TZ = CHINA  # a fact's day is its day in China (services.common.clock), whatever the host's zone

__all__ = [
    "ACCEPTED",
    "CORRECTED",
    "REVIEWED",
    "Fact",
    "HazardFound",
    "UnusableEvent",
    "fact_from_submission",
]


class UnusableEvent(ValueError):
    """An event this consumer cannot apply (unknown type, missing fields): it goes to the dead letters."""


@quick_init
@dataclass(frozen=True)
class HazardFound:
    """A hazard an inspection found, as the intake computed it (``computed.hazards[]`` of the payload)."""

    item_code: str
    severity: str  # general | major
    category: str
    deadline: date


@quick_init
@dataclass(frozen=True)
class Fact:
    lineage_id: str  # the first version's submission id
    submission_id: str  # the version that counts now
    form: str
    district: str
    enterprise: str | None
    industry: str  # GB/T 4754 division, "" when the form has none
    day: date  # the local (Asia/Shanghai) day the fact belongs to
    review_status: str
    payload: dict[str, Any]

    @property
    def counts(self) -> bool:
        return self.review_status != "rejected"

    def reviewed(self, status: str) -> Fact:
        return replace(self, review_status=status)

    @cached_property
    def hazards(self) -> list[HazardFound]:
        """The hazards an inspection found (none for other forms).  The one reading of that part of the
        payload: the rollups, the hazard ledger and verify all use it.  Raises KeyError, TypeError or
        ValueError on a payload that does not have the contract's shape.  Read once per fact (the rollups,
        the check before writing and the ledger rows all ask; a fact is immutable)."""
        if self.form != "factory_inspection":
            return []
        found = []
        for h in (self.payload.get("computed") or {}).get("hazards", []):
            if not all(isinstance(h[k], str) for k in ("item_code", "severity", "category", "deadline")):
                raise TypeError("a hazard's item_code, severity, category and deadline must be strings")
            found.append(
                HazardFound(h["item_code"], h["severity"], h["category"], date.fromisoformat(h["deadline"]))
            )
        return found


def local_day(timestamp: str) -> date:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).astimezone(TZ).date()


@lru_cache(maxsize=4096, typed=True)
def _canonical_district(code: str) -> str:
    """``canonical_district``, remembered: the consumer asks for a few hundred codes once per event (~1 us
    each, a set and a walk of the table).  An unhashable value raises TypeError, as the table lookup does."""
    return canonical_district(code)


def _text(value: Any, field: str) -> str:
    """``value`` if it is a string.  The fact's keys must be: a number where a district, an enterprise or an
    industry belongs made the cell keys of its batch unsortable (str against int), failing the whole batch
    for ever instead of dead-lettering the one event (another producer than the intake can write to the
    topic)."""
    if not isinstance(value, str):
        raise UnusableEvent(f"{field} must be a string, not {type(value).__name__}")
    return value


def fact_from_submission(lineage_id: str, data: dict[str, Any]) -> Fact:
    """Build the fact of a submission event's payload (accepted or corrected)."""
    try:
        form = data["form"]
        body = data["data"]
        computed = data.get("computed") or {}
        if form == "factory_inspection":
            day = date.fromisoformat(body["inspection_date"])
            industry = body["enterprise"]["industry"]
        elif form == "hazard_rectification":
            # A rectification belongs to the cohort of the hazard it closes: the day the hazard was found.
            hazard = computed["hazard"]
            day = date.fromisoformat(hazard["found_on"])
            industry = hazard.get("industry", "")
        elif form == "worker_survey":
            day = local_day(data["collected_at"])
            industry = ""
        else:
            raise UnusableEvent(f"unknown form {form!r}")
        district = _canonical_district(
            _text(
                computed["hazard"]["district"] if form == "hazard_rectification" else data["district"],
                "district",
            )
        )
        enterprise = data.get("enterprise")
        return Fact(
            lineage_id=lineage_id,
            submission_id=_text(data["submission_id"], "submission_id"),
            form=form,
            district=district,
            enterprise=None if enterprise is None else _text(enterprise, "enterprise"),
            industry=_text(industry, "industry") if industry else "",
            day=day,
            review_status="pending",
            payload=data,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # AttributeError: a null timestamp
        if isinstance(exc, UnusableEvent):
            raise
        raise UnusableEvent(f"submission payload lacks what the rollups need: {exc!r}") from exc
