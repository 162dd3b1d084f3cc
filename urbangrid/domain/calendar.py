"""The official working-day calendar: statutory holidays and make-up working days (调休).

China's State Council publishes each year's holidays every November, with Saturdays or Sundays
that become working days to make up for bridged days. The ``chinesecalendar`` package carries
that notice for the years it knows; a city's override table (entered by staff) wins over it, and
for a year neither knows the calendar counts weekends only and says so loudly, because deadlines
computed that way are wrong around every holiday.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import chinese_calendar

log = logging.getLogger(__name__)

_warned_years: set[int] = set()


@functools.lru_cache(maxsize=8192)
def _official(day: date) -> bool:
    """chinesecalendar's answer; ``NotImplementedError`` for a year it has no notice for.

    Remembered: every deadline asks about the same few weeks of days, thousands of times a
    second when a batch of reports is routed or a morning's deadlines are swept.
    """
    return bool(chinese_calendar.is_workday(day))


def _warn_once(year: int) -> None:
    if year not in _warned_years:
        _warned_years.add(year)
        log.warning(
            "no official holiday calendar for %s: counting Monday to Friday as working days. "
            "Enter the State Council's holidays for %s (`urbangrid calendar load FILE`) or "
            "upgrade chinesecalendar.",
            year,
            year,
        )


class OfficialCalendar:
    """Working days from the override table, then the official notice, then weekends only.

    ``overrides`` maps a day to whether it is a working day; ``entered_years`` are years whose
    notice the city entered in full as overrides, so weekends-only is right for their other days
    and nothing needs saying. Every year that fell back is kept in :attr:`fallback_years`, so a
    deadline computed with it can record that it is provisional.

    >>> calendar = OfficialCalendar()
    >>> calendar.is_workday(date(2026, 2, 14)), calendar.is_workday(date(2026, 2, 16))
    (True, False)
    >>> calendar.is_workday(date(2027, 2, 8)), sorted(calendar.fallback_years)
    (True, [2027])
    >>> OfficialCalendar({date(2027, 2, 8): False}).is_workday(date(2027, 2, 8))
    False
    """

    def __init__(
        self,
        overrides: Mapping[date, bool] | None = None,
        entered_years: Collection[int] = (),
        *,
        official: Callable[[date], bool] = _official,
        on_fallback: Callable[[int], None] = _warn_once,
    ) -> None:
        self.overrides = dict(overrides or {})
        self.entered_years = frozenset(entered_years)
        self._official = official
        self._on_fallback = on_fallback
        self._fallback: set[int] = set()

    @property
    def fallback_years(self) -> frozenset[int]:
        return frozenset(self._fallback)

    def knows(self, year: int) -> bool:
        """Whether ``year`` has an official or entered notice (no weekends-only guess).

        >>> OfficialCalendar().knows(2026), OfficialCalendar().knows(2027)
        (True, False)
        >>> OfficialCalendar(entered_years=[2027]).knows(2027)
        True
        """
        if year in self.entered_years:
            return True
        try:
            self._official(date(year, 6, 1))
        except NotImplementedError:
            return False
        return True

    def is_workday(self, day: date) -> bool:
        found = self.overrides.get(day)
        if found is not None:
            return found
        if day.year in self.entered_years:
            return day.weekday() < 5
        try:
            return self._official(day)
        except NotImplementedError:
            self._fallback.add(day.year)
            self._on_fallback(day.year)
            return day.weekday() < 5


@dataclass(frozen=True)
class Notice:
    """A year's holiday notice as the city enters it: days off, make-up working days."""

    year: int
    days: Mapping[date, bool]
    complete: bool = False
    note: str = ""


def _days(value: object, where: str) -> list[date]:
    if isinstance(value, date):
        return [value]
    text = str(value).strip()
    first, sep, last = text.partition("..")
    try:
        start = date.fromisoformat(first.strip())
        end = date.fromisoformat(last.strip()) if sep else start
    except ValueError as exc:
        raise ValueError(
            f"{where}: {text!r} is not a date or a range like 2027-02-06..2027-02-12"
        ) from exc
    if end < start:
        raise ValueError(f"{where}: range {text!r} ends before it starts")
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def parse_notice(document: Mapping[str, Any]) -> Notice:
    """Read a holiday notice: ``year``, ``holidays`` and ``workdays`` (days or ranges),
    ``complete`` when it is the whole year's notice, and a ``note`` naming the source.

    >>> notice = parse_notice({"year": 2027, "complete": True,
    ...     "holidays": ["2027-02-06..2027-02-08"], "workdays": ["2027-02-14"]})
    >>> sorted((d.isoformat(), w) for d, w in notice.days.items())[:2]
    [('2027-02-06', False), ('2027-02-07', False)]
    >>> parse_notice({"year": 2027, "holidays": ["2028-01-01"]})
    Traceback (most recent call last):
    ...
    ValueError: holidays[0]: 2028-01-01 is not in 2027
    """
    try:
        year = int(document["year"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError("year: missing or not a year, e.g. 2027") from exc
    days: dict[date, bool] = {}
    for key, working in (("holidays", False), ("workdays", True)):
        for index, value in enumerate(document.get(key) or []):
            where = f"{key}[{index}]"
            for day in _days(value, where):
                if day.year != year:
                    raise ValueError(f"{where}: {day.isoformat()} is not in {year}")
                if days.get(day, working) != working:
                    raise ValueError(f"{where}: {day.isoformat()} is both a holiday and a workday")
                days[day] = working
    return Notice(year, days, bool(document.get("complete", False)), str(document.get("note", "")))
