"""The official working-day calendar: statutory holidays and make-up working days (调休).

China's State Council publishes each year's holidays every November, with Saturdays or Sundays
that become working days to make up for bridged days. The ``chinesecalendar`` package carries
that notice for the years it knows; a city's override table (entered by staff) wins over it, and
for a year neither knows the calendar counts weekends only and says so loudly, because deadlines
computed that way are wrong around every holiday.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from datetime import date

import chinese_calendar

log = logging.getLogger(__name__)

_warned_years: set[int] = set()


def _official(day: date) -> bool:
    """chinesecalendar's answer; ``NotImplementedError`` for a year it has no notice for."""
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
