"""Time limits (处置时限) and the deadlines they give.

A limit is written ``<n><unit>``: ``min`` and ``h`` count natural time (emergencies), ``wh``
working hours inside the office windows of working days, ``wd`` working days. Which days are
working days is a :class:`WorkCalendar`'s answer, so the official holiday calendar plugs in
without changing the arithmetic.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal, NotRequired, Protocol, TypedDict, Unpack
from zoneinfo import ZoneInfo

Unit = Literal["min", "h", "wh", "wd"]
_LIMIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(min|h|wh|wd)\s*$")

# Office windows of a working day (docs/domain.md §5); a city may configure its own.
DEFAULT_WINDOWS: tuple[tuple[time, time], ...] = ((time(9), time(12)), (time(13), time(17, 30)))


@dataclass(frozen=True)
class TimeLimit:
    value: float
    unit: Unit

    def __str__(self) -> str:
        number = int(self.value) if self.value == int(self.value) else self.value
        return f"{number}{self.unit}"


NATURAL_UNITS = frozenset({"min", "h"})

# The longest limit or extension of each unit: about a year. A longer one is a typing slip (or a
# hostile client), and counting it out on the working-day calendar would run for minutes.
MAX_VALUE: dict[str, float] = {"min": 366 * 24 * 60, "h": 366 * 24, "wh": 250 * 8, "wd": 250}


def parse_limit(text: str) -> TimeLimit:
    """Read a limit such as ``4wh``, ``2wd``, ``90min`` or ``6h``.

    >>> parse_limit("90min")
    TimeLimit(value=90.0, unit='min')
    >>> parse_limit("2 days")
    Traceback (most recent call last):
    ...
    ValueError: time limit '2 days' is not <number><min|h|wh|wd>, e.g. 4wh
    >>> parse_limit("999999999wd")
    Traceback (most recent call last):
    ...
    ValueError: time limit '999999999wd' is longer than 250wd
    """
    match = _LIMIT.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"time limit {text!r} is not <number><min|h|wh|wd>, e.g. 4wh")
    value, unit = float(match.group(1)), match.group(2)
    if value > MAX_VALUE[unit]:
        raise ValueError(f"time limit {text!r} is longer than {MAX_VALUE[unit]:g}{unit}")
    return TimeLimit(value, unit)  # type: ignore[arg-type]


Limits = tuple[TimeLimit, ...]


def parse_limits(text: str) -> Limits:
    """Read a limit or a chain of limits run one after another, such as ``1wh+1wh+4wh+1wd``.

    A chain is what the whole-case clock allows when a category names no limit of its own: each
    stage's limit, counted in its own unit, one after the other.

    >>> parse_limits("30min+2h")
    (TimeLimit(value=30.0, unit='min'), TimeLimit(value=2.0, unit='h'))
    """
    return tuple(parse_limit(part) for part in text.split("+"))


def format_limits(limits: Limits) -> str:
    """The text :func:`parse_limits` reads back.

    >>> format_limits((TimeLimit(1.0, "wh"), TimeLimit(2.5, "wd")))
    '1wh+2.5wd'
    """
    return "+".join(str(limit) for limit in limits)


def scale_limits(limits: Limits, share: float) -> Limits:
    """``share`` of every part of ``limits``, e.g. the 80% at which a warning fires.

    >>> scale_limits(parse_limits("4wh+1wd"), 0.5)
    (TimeLimit(value=2.0, unit='wh'), TimeLimit(value=0.5, unit='wd'))
    """
    return tuple(TimeLimit(limit.value * share, limit.unit) for limit in limits)


def is_natural(limits: Limits) -> bool:
    """True when every part counts natural time, so a pause is measured on the wall clock."""
    return all(limit.unit in NATURAL_UNITS for limit in limits)


def parse_windows(text: str) -> tuple[tuple[time, time], ...]:
    """Office windows of a working day, written ``HH:MM-HH:MM`` and separated by commas.

    >>> parse_windows("09:00-12:00,13:00-17:30")
    ((datetime.time(9, 0), datetime.time(12, 0)), (datetime.time(13, 0), datetime.time(17, 30)))
    >>> parse_windows("13:00-12:00")
    Traceback (most recent call last):
    ...
    ValueError: office window '13:00-12:00' must open before it closes
    """
    windows: list[tuple[time, time]] = []
    for part in (p.strip() for p in text.split(",")):
        match = re.fullmatch(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", part)
        if not match:
            raise ValueError(f"office window {part!r} is not HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if not (h1 < 24 and h2 < 24 and m1 < 60 and m2 < 60):
            raise ValueError(f"office window {part!r} is not a time of day")
        opens, closes = time(h1, m1), time(h2, m2)
        if opens >= closes:
            raise ValueError(f"office window {part!r} must open before it closes")
        if windows and opens < windows[-1][1]:
            raise ValueError(f"office window {part!r} overlaps or precedes the one before it")
        windows.append((opens, closes))
    if not windows:
        raise ValueError("at least one office window is needed")
    return tuple(windows)


class WorkCalendar(Protocol):
    def is_workday(self, day: date) -> bool: ...


class WeekendCalendar:
    """Monday to Friday; the fallback when no official calendar is known."""

    def is_workday(self, day: date) -> bool:
        return day.weekday() < 5


class OfficeTime(TypedDict):
    """How a city counts working time, passed by keyword to every function that counts it: its
    calendar of working days, its time zone, and a working day's office windows (by default
    ``DEFAULT_WINDOWS``)."""

    calendar: WorkCalendar
    tz: ZoneInfo
    windows: NotRequired[Sequence[tuple[time, time]]]


def add_limit(start: datetime, limit: TimeLimit, **office: Unpack[OfficeTime]) -> datetime:
    """The deadline ``limit`` after ``start`` (an aware instant), in the city's time zone.

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
    local = start.astimezone(office["tz"])
    if limit.unit == "min":
        return local + timedelta(minutes=limit.value)
    if limit.unit == "h":
        return local + timedelta(hours=limit.value)
    if limit.unit == "wh":
        return _add_working_time(local, timedelta(hours=limit.value), office)
    return _add_working_days(local, limit.value, office)


def add_limits(start: datetime, limits: Limits, **office: Unpack[OfficeTime]) -> datetime:
    """The deadline of a chain of limits, each counted from where the one before ended.

    >>> office = OfficeTime(calendar=WeekendCalendar(), tz=ZoneInfo("Asia/Shanghai"))
    >>> friday = datetime(2026, 3, 6, 16, 0, tzinfo=office["tz"])
    >>> add_limits(friday, parse_limits("1h+1wh"), **office).isoformat()
    '2026-03-09T09:30:00+08:00'
    """
    deadline = start.astimezone(office["tz"])
    for limit in limits:
        deadline = add_limit(deadline, limit, **office)
    return deadline


def working_time_between(
    start: datetime, end: datetime, *, natural: bool, **office: Unpack[OfficeTime]
) -> timedelta:
    """Time from ``start`` to ``end`` as a clock counts it: wall time, or office time only.

    >>> office = OfficeTime(calendar=WeekendCalendar(), tz=ZoneInfo("Asia/Shanghai"))
    >>> friday = datetime(2026, 3, 6, 16, 0, tzinfo=office["tz"])
    >>> monday = datetime(2026, 3, 9, 10, 0, tzinfo=office["tz"])
    >>> working_time_between(friday, monday, natural=False, **office)
    datetime.timedelta(seconds=9000)
    """
    if end <= start:
        return timedelta()
    if natural:
        return end - start
    total = timedelta()
    for begin, finish in _office_spans(start.astimezone(office["tz"]), office):
        if begin >= end:
            return total
        total += min(finish, end) - begin
    raise AssertionError("unreachable: the spans end by raising")


def push(
    deadline: datetime, paused: timedelta, *, natural: bool, **office: Unpack[OfficeTime]
) -> datetime:
    """``deadline`` moved later by ``paused``, counted the way the clock counts time.

    >>> office = OfficeTime(calendar=WeekendCalendar(), tz=ZoneInfo("Asia/Shanghai"))
    >>> friday = datetime(2026, 3, 6, 16, 0, tzinfo=office["tz"])
    >>> push(friday, timedelta(hours=2), natural=False, **office).isoformat()
    '2026-03-09T09:30:00+08:00'
    """
    local = deadline.astimezone(office["tz"])
    if paused <= timedelta():
        return local
    if natural:
        return local + paused
    return _add_working_time(local, paused, office)


def _add_working_time(local: datetime, remaining: timedelta, office: OfficeTime) -> datetime:
    for begin, end in _office_spans(local, office):
        if begin + remaining <= end:
            return begin + remaining
        remaining -= end - begin
    raise AssertionError("unreachable: the spans end by raising")


def _add_working_days(local: datetime, days: float, office: OfficeTime) -> datetime:
    """Whole working days land at the same clock time on the n-th working day after the start.

    A report made outside office hours starts its clock at the next opening, as staff count it.
    Fractions of a day are counted in working hours of a full office day.
    """
    whole = int(days)
    fraction = days - whole
    start = next(_office_spans(local, office))[0]
    day = start.date()
    counted = 0
    for _ in range(3660):
        if counted == whole:
            break
        day += timedelta(days=1)
        if office["calendar"].is_workday(day):
            counted += 1
    else:
        raise ValueError("no working day found within ten years; check the calendar overrides")
    deadline = datetime.combine(day, start.timetz().replace(tzinfo=None), office["tz"])
    if fraction:
        office_day = sum(
            (
                datetime.combine(day, c) - datetime.combine(day, o)
                for o, c in office.get("windows", DEFAULT_WINDOWS)
            ),
            timedelta(),
        )
        deadline = _add_working_time(deadline, office_day * fraction, office)
    return deadline


def _office_spans(since: datetime, office: OfficeTime) -> Iterator[tuple[datetime, datetime]]:
    """Office time from ``since`` on, one (begin, end) per window of each working day.

    Bounded at ten years of days, a bound and not a limit anyone reaches: a calendar with no
    working day in that long is a mistake in its overrides, said so rather than looped on.
    """
    calendar, tz = office["calendar"], office["tz"]
    windows = office.get("windows", DEFAULT_WINDOWS)
    day = since.date()
    cursor = since
    for _ in range(3660):
        if calendar.is_workday(day):
            for opens, closes in windows:
                begin = max(cursor, datetime.combine(day, opens, tz))
                end = datetime.combine(day, closes, tz)
                if begin < end:
                    yield begin, end
        day += timedelta(days=1)
        cursor = datetime.combine(day, time(0), tz)
    raise ValueError("no working time found within ten years; check the calendar overrides")
