"""Day numbers and row kinds of the evaluation's rollups, as plain rules.

Every period the evaluation is asked about is a run of whole local days in the city's time zone
(``parse_period``, and the days, weeks and months of a trend). A case's contribution to any such
period therefore depends only on the local *day* of each moment the measures compare (report,
filing, deadline, closure, handling deadline, handling), except for one comparison: while a
period is still running, a deadline falling today is passed or not to the minute. So the
refresher stores day numbers, and the readers compare day numbers (and, for today, the instant).
"""

from __future__ import annotations

from datetime import date
from enum import IntEnum, IntFlag
from zoneinfo import ZoneInfo

from urbangrid.domain.daynumbers import EPOCH, day_number, day_of, day_start
from urbangrid.evaluation.formulas import ROLLING_WINDOWS, Period

# Stands for "no such day" in the rollups' unique key, where NULL would not be equal to NULL.
# Far below any real day, so a range test on it is always false.
NO_DAY = -10_000_000


class RollupKind(IntEnum):
    """What one row of ``metric_rollups`` counts."""

    RECEIVED = 1  # day1: reported
    FILED = 2  # day1: filed; flags: EXTENDED
    CLOSURE = 3  # day1: the case's deadline, day2: closed; flags: ON_TIME, REOPENED
    HANDLING = 4  # day1: handling deadline, day2: handled; flags: ON_TIME, REWORKED, TIMED
    DISPATCH = 5  # day1: dispatched or re-dispatched
    RETURN = 6  # day1: returned by the department
    RATING = 7  # day1: rated; score: the resident's score


class EventKind(IntEnum):
    """The events the measures count, in ``metric_event_facts``."""

    DISPATCH = 1
    RETURN = 2
    RATING = 3


class Flag(IntFlag):
    """Bits of a rollup row's ``flags``; each kind uses the ones its comment names."""

    ON_TIME = 1
    EXTENDED = 2
    REOPENED = 4
    REWORKED = 8
    TIMED = 16


def period_days(period: Period, tz: ZoneInfo) -> tuple[int, int] | None:
    """A period as the days ``[first, end)``, or None when it is not made of whole local days.

    >>> from datetime import date, datetime
    >>> from urbangrid.evaluation.formulas import parse_period
    >>> tz = ZoneInfo("Asia/Shanghai")
    >>> period_days(parse_period("2026-Q2", tz=tz, today=date(2026, 5, 1)), tz)
    (20544, 20635)
    >>> start = datetime(2026, 4, 1, 9, tzinfo=tz)
    >>> period_days(Period(start, start.replace(day=2), "from 09:00"), tz) is None
    True
    """
    first, end = day_number(period.start, tz), day_number(period.end, tz)
    if day_start(first, tz) != period.start or day_start(end, tz) != period.end:
        return None
    return first, end


def calendar_spans(first: int, last: int) -> list[tuple[int, int]]:
    """The months, quarters and years the days ``first`` to ``last`` (inclusive) touch, each as
    the days ``[first, end)``: the periods the centre reports by, whose per-cell summaries the
    refresher keeps.

    >>> as_dates = lambda spans: [(str(date.fromordinal(EPOCH.toordinal() + a)),
    ...                            str(date.fromordinal(EPOCH.toordinal() + b))) for a, b in spans]
    >>> as_dates(calendar_spans(day_of(date(2026, 3, 30)), day_of(date(2026, 4, 2))))
    ... # doctest: +NORMALIZE_WHITESPACE
    [('2026-01-01', '2026-04-01'), ('2026-01-01', '2027-01-01'), ('2026-03-01', '2026-04-01'),
     ('2026-04-01', '2026-05-01'), ('2026-04-01', '2026-07-01')]
    >>> calendar_spans(20544, 20543)
    []
    """
    if last < first:
        return []
    start = date.fromordinal(EPOCH.toordinal() + first)
    stop = date.fromordinal(EPOCH.toordinal() + last)
    spans: set[tuple[int, int]] = set()
    for months in (1, 3, 12):
        index = (start.year * 12 + start.month - 1) // months * months
        while index <= stop.year * 12 + stop.month - 1:
            nxt = index + months
            spans.add(
                (
                    day_of(date(index // 12, index % 12 + 1, 1)),
                    day_of(date(nxt // 12, nxt % 12 + 1, 1)),
                )
            )
            index = nxt
    return sorted(spans)


def summary_spans(first: int, last: int, today: int) -> list[tuple[int, int]]:
    """The periods whose per-cell summaries are kept: every month, quarter and year the days
    ``first`` to ``last`` touch, and the rolling windows (the last 7, 30, 90 and 365 days) as
    they stand on ``today``.

    >>> today = day_of(date(2026, 12, 2))
    >>> spans = summary_spans(day_of(date(2026, 11, 20)), today, today)
    >>> len(spans), (today - 89, today + 1) in spans  # 2 months, 1 quarter, 1 year, 4 windows
    (8, True)
    """
    windows = {(today + 1 - days, today + 1) for days in ROLLING_WINDOWS}
    return sorted(set(calendar_spans(first, last)) | windows)
