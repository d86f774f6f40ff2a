"""``clock.today()`` is the day in China whatever zone the host is set to (TZ set and re-read per test)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.common import clock
from tests.clocks import on_host

#: 17:00 UTC on 28 November is already 01:00 on 29 November in Shanghai
EVENING_UTC = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("host", "instant", "host_day", "china_day"),
    [
        # a UTC host in the evening: the host is still on the 28th, China is on the 29th
        ("UTC", EVENING_UTC, date(2026, 11, 28), date(2026, 11, 29)),
        ("America/Los_Angeles", EVENING_UTC, date(2026, 11, 28), date(2026, 11, 29)),
        # a host far east (UTC+14) is a day ahead of China at noon UTC
        (
            "Pacific/Kiritimati",
            datetime(2026, 11, 29, 12, 0, tzinfo=UTC),
            date(2026, 11, 30),
            date(2026, 11, 29),
        ),
        # the China day turns at 16:00 UTC, not at the host's midnight
        ("UTC", datetime(2026, 11, 28, 15, 59, 59, tzinfo=UTC), date(2026, 11, 28), date(2026, 11, 28)),
        ("UTC", datetime(2026, 11, 28, 16, 0, tzinfo=UTC), date(2026, 11, 28), date(2026, 11, 29)),
    ],
)
def test_today_is_the_day_in_china_whatever_the_host_zone(
    host: str, instant: datetime, host_day: date, china_day: date
) -> None:
    with on_host(host, instant):
        assert date.today() == host_day  # the host's day, what the aggregator used to take
        assert clock.today() == china_day
        assert clock.utcnow() == instant
    assert clock.today(instant) == china_day  # the same, given the instant


def test_today_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="aware"):
        clock.today(datetime(2026, 11, 28, 17, 0))
