"""Local days as numbers: the calendar day of an instant in the city's time zone, as days since
1970-01-01, and back. The evaluation's rollups and the database's day function both count in
them, so a day is the same day in Python, SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

EPOCH = date(1970, 1, 1)


def day_number(instant: datetime, tz: ZoneInfo) -> int:
    """The local calendar day of an instant, as days since 1970-01-01.

    >>> tz = ZoneInfo("Asia/Shanghai")
    >>> day_number(datetime(2026, 3, 31, 16, 0, tzinfo=UTC), tz)  # 00:00 on 1 April there
    20544
    >>> day_number(datetime(2026, 3, 31, 15, 59, tzinfo=UTC), tz)
    20543
    """
    return (instant.astimezone(tz).date() - EPOCH).days


def day_start(day: int, tz: ZoneInfo) -> datetime:
    """The instant a local day begins (midnight in the city), in UTC.

    >>> day_start(20544, ZoneInfo("Asia/Shanghai")).isoformat()
    '2026-03-31T16:00:00+00:00'
    """
    local = date.fromordinal(EPOCH.toordinal() + day)
    return datetime.combine(local, time(0), tz).astimezone(UTC)


def day_of(day: date) -> int:
    """A calendar day as its day number.

    >>> day_of(date(2026, 4, 1))
    20544
    """
    return (day - EPOCH).days
