"""Report periods over local (Asia/Shanghai) days: day, ISO week, month, quarter, calendar year."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

PERIODS = ("day", "week", "month", "quarter", "year")


class UnknownPeriod(ValueError):
    """A period kind outside ``PERIODS``."""


@dataclass(frozen=True)
class Period:
    kind: str
    key: str
    start: date
    end: date  # inclusive

    def previous(self) -> Period:
        return period_of(self.kind, self.start - timedelta(days=1))

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "key": self.key,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }


def period_of(kind: str, day: date) -> Period:
    """The period of ``kind`` containing ``day`` (ISO weeks; quarters of the calendar year)."""
    if kind == "day":
        return Period(kind, day.isoformat(), day, day)
    if kind == "week":
        iso = day.isocalendar()
        start = day - timedelta(days=iso.weekday - 1)
        return Period(kind, f"{iso.year}-W{iso.week:02d}", start, start + timedelta(days=6))
    if kind == "month":
        start = day.replace(day=1)
        nxt = (start + timedelta(days=32)).replace(day=1)
        return Period(kind, f"{day.year}-{day.month:02d}", start, nxt - timedelta(days=1))
    if kind == "quarter":
        q = (day.month - 1) // 3 + 1
        start = date(day.year, 3 * q - 2, 1)
        nxt = date(day.year + 1, 1, 1) if q == 4 else date(day.year, 3 * q + 1, 1)
        return Period(kind, f"{day.year}-Q{q}", start, nxt - timedelta(days=1))
    if kind == "year":
        return Period(kind, str(day.year), date(day.year, 1, 1), date(day.year, 12, 31))
    raise UnknownPeriod(f"period must be one of {', '.join(PERIODS)}")
