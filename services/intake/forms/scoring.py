"""The factory-inspection score, defined once.

Definition: the score of an inspection is the share of *applicable* checklist items that passed, as a
percentage rounded half-up to one decimal::

    score = round_half_up(100 × passed ÷ (passed + failed), 1)

Items answered ``not_applicable`` count neither way (a factory without a spray booth is not better or worse
for it).  With no applicable item at all the score is ``None``, not 0 or 100: nothing was measured.

Rounding is half-up on the exact fraction (1 of 16 → 6.25 → 6.3), not Python's ``round`` on a float, which
rounds half to even and sees binary approximations (``round(6.25, 1) == 6.2``).  District reports compare and
average these scores, so every service must get the same digit: they all call this function.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from functools import lru_cache
from math import floor


def round_half_up(value: Fraction, places: int) -> float:
    """``value`` rounded half away from zero to ``places`` decimals (values here are never negative)."""
    scale = 10**places
    magnitude = floor(abs(value) * scale + Fraction(1, 2))
    return (magnitude if value >= 0 else -magnitude) / scale


def score(results: Iterable[str]) -> float | None:
    """Percentage of passed among applicable items, rounded half-up to 1 decimal; None when none applies.

    ``results`` are the items' results: ``pass``, ``fail`` or ``not_applicable``.
    """
    passed = failed = 0
    for result in results:
        if result == "pass":
            passed += 1
        elif result == "fail":
            failed += 1
    return _score(passed, failed)


@lru_cache(maxsize=8192)
def _score(passed: int, failed: int) -> float | None:
    """The score of these counts, worked out once (exact Fractions cost a twentieth of a batch item)."""
    if passed + failed == 0:
        return None
    return round_half_up(Fraction(100 * passed, passed + failed), 1)


def mean(values: Iterable[int], places: int = 3) -> float:
    """Arithmetic mean rounded half-up to ``places`` decimals (the worker-survey indices)."""
    items = list(values)
    if not items:
        raise ValueError("mean of no values")
    return round_half_up(Fraction(sum(items), len(items)), places)
