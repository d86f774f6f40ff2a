"""One clock for "today": the day in China (Asia/Shanghai), whatever time zone the host runs in.

Every date of this system is a Chinese date: an inspection day, a hazard deadline, a report period.  The
host's local date (``date.today()``) is the wrong one on a server kept in UTC, as servers usually are: from
16:00 to 24:00 UTC it is already tomorrow in China, so reports would default to yesterday's period and miss
hazards that became overdue at Chinese midnight.  Use ``today()``; never ``date.today()``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

#: China Standard Time (UTC+8, no daylight saving): the zone of every date in the system
CHINA = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    """The current instant (aware, UTC): independent of the host's time zone by construction."""
    return datetime.now(UTC)


def today(now: datetime | None = None) -> date:
    """The current day in Asia/Shanghai (of ``now`` if given; it must carry its time zone)."""
    instant = now if now is not None else utcnow()
    if instant.tzinfo is None:
        # A naive datetime would be read in the host's zone, the very mistake this module exists to avoid.
        raise ValueError("today() needs an aware datetime")
    return instant.astimezone(CHINA).date()


__all__ = ["CHINA", "today", "utcnow"]
