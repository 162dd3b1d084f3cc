"""Time limits (处置时限) and the deadlines they give.

A limit is written ``<n><unit>``: ``min`` and ``h`` count natural time (emergencies), ``wh``
working hours inside the office windows of working days, ``wd`` working days. Which days are
working days is a :class:`WorkCalendar`'s answer, so the official holiday calendar plugs in
without changing the arithmetic.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

Unit = Literal["min", "h", "wh", "wd"]
_LIMIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(min|h|wh|wd)\s*$")

# Office windows of a working day (DOMAIN.md §5); a city may configure its own.
DEFAULT_WINDOWS: tuple[tuple[time, time], ...] = ((time(9), time(12)), (time(13), time(17, 30)))


@dataclass(frozen=True)
class TimeLimit:
    value: float
    unit: Unit

    def __str__(self) -> str:
        number = int(self.value) if self.value == int(self.value) else self.value
        return f"{number}{self.unit}"


def parse_limit(text: str) -> TimeLimit:
    """Read a limit such as ``4wh``, ``2wd``, ``90min`` or ``6h``.

    >>> parse_limit("90min")
    TimeLimit(value=90.0, unit='min')
    >>> parse_limit("2 days")
    Traceback (most recent call last):
    ...
    ValueError: time limit '2 days' is not <number><min|h|wh|wd>, e.g. 4wh
    """
    match = _LIMIT.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"time limit {text!r} is not <number><min|h|wh|wd>, e.g. 4wh")
    return TimeLimit(float(match.group(1)), match.group(2))  # type: ignore[arg-type]


class WorkCalendar(Protocol):
    def is_workday(self, day: date) -> bool: ...


class WeekendCalendar:
    """Monday to Friday; the fallback when no official calendar is known."""

    def is_workday(self, day: date) -> bool:
        return day.weekday() < 5


def add_limit(
    start: datetime,
    limit: TimeLimit,
    *,
    calendar: WorkCalendar,
    tz: ZoneInfo,
    windows: Sequence[tuple[time, time]] = DEFAULT_WINDOWS,
) -> datetime:
    """The deadline ``limit`` after ``start`` (an aware instant), in the city's time zone.

    >>> from zoneinfo import ZoneInfo
    >>> tz = ZoneInfo("Asia/Shanghai")
    >>> friday = datetime(2026, 3, 6, 16, 0, tzinfo=tz)
    >>> add_limit(friday, parse_limit("6h"), calendar=WeekendCalendar(), tz=tz).isoformat()
    '2026-03-06T22:00:00+08:00'
    >>> add_limit(friday, parse_limit("4wh"), calendar=WeekendCalendar(), tz=tz).isoformat()
    '2026-03-09T11:30:00+08:00'
    >>> add_limit(friday, parse_limit("1wd"), calendar=WeekendCalendar(), tz=tz).isoformat()
    '2026-03-09T16:00:00+08:00'
    """
    if start.tzinfo is None:
        raise ValueError("start must be an aware datetime")
    local = start.astimezone(tz)
    if limit.unit == "min":
        return local + timedelta(minutes=limit.value)
    if limit.unit == "h":
        return local + timedelta(hours=limit.value)
    if limit.unit == "wh":
        return _add_working_time(local, timedelta(hours=limit.value), calendar, tz, windows)
    return _add_working_days(local, limit.value, calendar, tz, windows)


def _add_working_time(
    local: datetime,
    remaining: timedelta,
    calendar: WorkCalendar,
    tz: ZoneInfo,
    windows: Sequence[tuple[time, time]],
) -> datetime:
    day = local.date()
    cursor = local
    for _ in range(3660):  # ten years of days: a bound, not a limit anyone reaches
        if calendar.is_workday(day):
            for opens, closes in windows:
                begin = max(cursor, datetime.combine(day, opens, tz))
                end = datetime.combine(day, closes, tz)
                if begin >= end:
                    continue
                if begin + remaining <= end:
                    return begin + remaining
                remaining -= end - begin
        day += timedelta(days=1)
        cursor = datetime.combine(day, time(0), tz)
    raise ValueError("no working time found within ten years; check the calendar overrides")


def _add_working_days(
    local: datetime,
    days: float,
    calendar: WorkCalendar,
    tz: ZoneInfo,
    windows: Sequence[tuple[time, time]],
) -> datetime:
    """Whole working days land at the same clock time on the n-th working day after the start.

    A report made outside office hours starts its clock at the next opening, as staff count it.
    Fractions of a day are counted in working hours of a full office day.
    """
    whole = int(days)
    fraction = days - whole
    start = _next_working_instant(local, calendar, tz, windows)
    day = start.date()
    counted = 0
    for _ in range(3660):
        if counted == whole:
            break
        day += timedelta(days=1)
        if calendar.is_workday(day):
            counted += 1
    else:
        raise ValueError("no working day found within ten years; check the calendar overrides")
    deadline = datetime.combine(day, start.timetz().replace(tzinfo=None), tz)
    if fraction:
        office_day = sum(
            (datetime.combine(day, c) - datetime.combine(day, o) for o, c in windows), timedelta()
        )
        deadline = _add_working_time(deadline, office_day * fraction, calendar, tz, windows)
    return deadline


def _next_working_instant(
    local: datetime, calendar: WorkCalendar, tz: ZoneInfo, windows: Sequence[tuple[time, time]]
) -> datetime:
    day = local.date()
    cursor = local
    for _ in range(3660):
        if calendar.is_workday(day):
            for opens, closes in windows:
                begin = max(cursor, datetime.combine(day, opens, tz))
                if begin < datetime.combine(day, closes, tz):
                    return begin
        day += timedelta(days=1)
        cursor = datetime.combine(day, time(0), tz)
    raise ValueError("no working time found within ten years; check the calendar overrides")
