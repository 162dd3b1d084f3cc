"""The evaluation of docs/domain.md §6 as pure formulas: periods, rates, scores, grades.

The counting happens in SQL (``urbangrid.evaluation``); what the counts mean and how they become
rates, scores and grades is decided here, once, for the API, the dashboard and the benchmark.

How a case is counted in a period ``P = [start, end)`` (instants in the city's time zone):

Two deadlines, both kept by the SLA clocks: a case's *deadline* is the whole case's (from report
to close, ``case_deadline_at``; for history imported with one due date, that date), and its
*handling deadline* is its department's (``deadline_at``: from dispatch, moved by extensions and
by time spent suspended, not reset by rework; a reopened case gets both anew).

* Only *counted* cases enter a denominator: filed (``filed_at`` set), not VOID, and not SUSPENDED
  now (a suspended case's clock is paused, so it is neither late nor on time).
* ``due`` (应结案数): counted cases whose deadline falls in P, plus those closed in P.
* ``closed`` (结案数): due cases that are CLOSED now, closed before the end of P. A reopened case is
  open again and counts as not closed; a case's closure is its last close.
* ``closed_on_time``: closed cases closed at or before their deadline (after any extension). A
  case without a time limit (history imported without a due date) cannot show it was on time,
  so it counts as closed but not on time, and never as overdue.
* ``overdue`` (超期): due cases closed after their deadline, or still not closed when their
  deadline passed before the end of P (or before now, for the current period).
* ``handling_due`` (应处置数): counted cases whose handling deadline falls in P, plus those with
  one whose handling (处置) was reported in P; ``handled_on_time`` those whose handling stands
  (HANDLED, CHECKED or CLOSED) and was reported before the end of P and by the handling deadline.
* ``handled`` (处置数): counted cases whose standing handling was reported in P; ``reworked``
  those among them sent back at least once by a failed check (返工).
* ``filed`` (立案数): counted cases filed in P; ``extended`` those granted at least one extension.
* ``dispatches``, ``returns``, ``ratings``, ``satisfied``: events in P, attributed to the
  department that held the case when the event happened (so a return counts against the
  department that returned it, not the one that received it next). ``satisfied`` are ratings of
  at least the configured score (4 of 5 by default).

Rates are ``None`` when their denominator is zero: no figure is better than a made-up one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

from urbangrid.domain.bounds import check_day
from urbangrid.domain.scoring import DEFAULT_POLICY, RATES, ScorePolicy

# ---------------------------------------------------------------------------------------------
# Periods


@dataclass(frozen=True)
class Period:
    """``[start, end)`` as aware UTC instants, with the label it was asked by."""

    start: datetime
    end: datetime
    label: str

    def as_of(self, now: datetime) -> datetime:
        """The instant the period is judged at: its end, or now while it is still running."""
        return min(self.end, now)


_YEAR = re.compile(r"^(\d{4})$")

_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")

_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")

_DAYS = re.compile(r"^(\d{1,4})d$")


# The rolling windows (the last N days) the dashboard offers; the refresher keeps their per-cell
# summaries as they stand each day.
ROLLING_WINDOWS = (7, 30, 90, 365)


PERIOD_HELP = "YYYY, YYYY-Qn, YYYY-MM, YYYY-MM-DD..YYYY-MM-DD (inclusive) or Nd (the last N days)"


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz).astimezone(UTC)


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def parse_period(text: str, *, tz: ZoneInfo, today: date) -> Period:
    """The period a label names, with day boundaries at midnight in the city's time zone.

    >>> tz = ZoneInfo("Asia/Shanghai")
    >>> p = parse_period("2026-Q1", tz=tz, today=date(2026, 5, 1))
    >>> p.start.isoformat(), p.end.isoformat()
    ('2025-12-31T16:00:00+00:00', '2026-03-31T16:00:00+00:00')
    >>> parse_period("7d", tz=tz, today=date(2026, 5, 1)).start.isoformat()
    '2026-04-24T16:00:00+00:00'
    >>> parse_period("2026-13", tz=tz, today=date(2026, 5, 1))
    Traceback (most recent call last):
    ...
    ValueError: period '2026-13': month must be 01..12
    >>> parse_period("0001-01-01..9999-12-31", tz=tz, today=date(2026, 5, 1))
    Traceback (most recent call last):
    ...
    ValueError: period '0001-01-01..9999-12-31': 0001-01-01 is outside 1990-01-01..2100-12-31
    """
    label = text.strip()
    if match := _YEAR.match(label) or _QUARTER.match(label) or _MONTH.match(label):
        _within_bounds(text, date(int(match.group(1)), 1, 1), date(int(match.group(1)), 12, 31))
    if match := _YEAR.match(label):
        year = int(match.group(1))
        return Period(_midnight(date(year, 1, 1), tz), _midnight(date(year + 1, 1, 1), tz), label)
    if match := _QUARTER.match(label):
        year, quarter = int(match.group(1)), int(match.group(2))
        first = 3 * (quarter - 1) + 1
        end_year, end_month = _add_months(year, first, 3)
        return Period(
            _midnight(date(year, first, 1), tz),
            _midnight(date(end_year, end_month, 1), tz),
            label.upper(),
        )
    if match := _MONTH.match(label):
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12:
            raise ValueError(f"period {text!r}: month must be 01..12")
        end_year, end_month = _add_months(year, month, 1)
        return Period(
            _midnight(date(year, month, 1), tz), _midnight(date(end_year, end_month, 1), tz), label
        )
    if match := _RANGE.match(label):
        try:
            first_day, last_day = (date.fromisoformat(g) for g in match.groups())
        except ValueError as exc:
            raise ValueError(f"period {text!r}: {exc}") from None
        if last_day < first_day:
            raise ValueError(f"period {text!r}: the last day is before the first")
        _within_bounds(text, first_day, last_day)
        return Period(_midnight(first_day, tz), _midnight(last_day + timedelta(days=1), tz), label)
    if match := _DAYS.match(label):
        days = int(match.group(1))
        if days < 1:
            raise ValueError(f"period {text!r}: at least 1 day")
        tomorrow = today + timedelta(days=1)
        return Period(
            _midnight(tomorrow - timedelta(days=days), tz), _midnight(tomorrow, tz), label
        )
    raise ValueError(f"period {text!r} is not one of {PERIOD_HELP}")


def _within_bounds(text: str, first: date, last: date) -> None:
    """A period must lie within the days the system answers for, so its instants exist."""
    try:
        check_day(first)
        check_day(last)
    except ValueError as exc:
        raise ValueError(f"period {text!r}: {exc}") from None


def quarter_of(day: date) -> str:
    """The label of the quarter a day falls in (the ranking's period).

    >>> quarter_of(date(2026, 11, 21))
    '2026-Q4'
    """
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


BucketUnit = Literal["day", "week", "month"]

MAX_BUCKETS = 400


@dataclass(frozen=True)
class Bucket:
    start: datetime
    end: datetime
    label: str


def buckets(period: Period, unit: BucketUnit, *, tz: ZoneInfo) -> list[Bucket]:
    """The days, ISO weeks (from Monday) or months covering ``period``, clipped to it.

    >>> tz = ZoneInfo("Asia/Shanghai")
    >>> p = parse_period("2026-03", tz=tz, today=date(2026, 5, 1))
    >>> [b.label for b in buckets(p, "week", tz=tz)][:2]
    ['2026-02-23', '2026-03-02']
    >>> len(buckets(p, "week", tz=tz)), len(buckets(p, "day", tz=tz))
    (6, 31)
    """
    first = period.start.astimezone(tz).date()
    if unit == "week":
        cursor = first - timedelta(days=first.weekday())
    elif unit == "month":
        cursor = first.replace(day=1)
    elif unit == "day":
        cursor = first
    else:
        raise ValueError(f"bucket unit {unit!r} is not day, week or month")
    found: list[Bucket] = []
    while _midnight(cursor, tz) < period.end:
        if unit == "week":
            following = cursor + timedelta(days=7)
        elif unit == "month":
            year, month = _add_months(cursor.year, cursor.month, 1)
            following = date(year, month, 1)
        else:
            following = cursor + timedelta(days=1)
        start, end = _midnight(cursor, tz), _midnight(following, tz)
        found.append(Bucket(max(start, period.start), min(end, period.end), cursor.isoformat()))
        if len(found) > MAX_BUCKETS:
            raise ValueError(
                f"period {period.label!r} has more than {MAX_BUCKETS} {unit}s; use a longer unit"
            )
        cursor = following
    return found


# ---------------------------------------------------------------------------------------------
# Counts and rates


class Counts(NamedTuple):
    """What SQL counts for one group in one period (see the module docstring).

    A named tuple rather than a dataclass: a city-wide table of base cells makes tens of
    thousands of these at once, and a tuple is built from a database row in one step.
    """

    received: int = 0
    filed: int = 0
    extended: int = 0
    due: int = 0
    closed: int = 0
    closed_on_time: int = 0
    overdue: int = 0
    handling_due: int = 0
    handled_on_time: int = 0
    handled: int = 0
    reworked: int = 0
    reopened: int = 0
    handling_timed: int = 0
    handling_seconds: float = 0.0
    dispatches: int = 0
    returns: int = 0
    ratings: int = 0
    satisfied: int = 0

    def plus(self, other: Counts) -> Counts:
        """Both groups' counts together (``+`` stays a tuple's: it would join the fields).

        >>> Counts(due=2, closed=1).plus(Counts(due=3)).due
        5
        """
        return Counts._make(mine + theirs for mine, theirs in zip(self, other, strict=True))


COUNT_NAMES: tuple[str, ...] = Counts._fields


# Rates where less is better: in the composite score they count as (1 − rate).
LOWER_IS_BETTER = frozenset(
    {"overdue_rate", "extension_rate", "rework_rate", "reopen_rate", "return_rate"}
)


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, or ``None`` when there is nothing to divide by.

    >>> ratio(3, 4), ratio(0, 0)
    (0.75, None)
    """
    return numerator / denominator if denominator else None


def rates(counts: Counts) -> dict[str, float | None]:
    """Every rate of docs/domain.md §6 from one group's counts, as fractions of 1.

    >>> r = rates(Counts(due=10, closed=8, closed_on_time=6, dispatches=20, returns=2))
    >>> r["closure_rate"], r["on_time_closure_rate"], r["accurate_dispatch_rate"]
    (0.8, 0.6, 0.9)
    >>> r["satisfaction_rate"] is None
    True
    """
    found = {
        name: ratio(getattr(counts, num), getattr(counts, den))
        for name, (num, den) in RATES.items()
    }
    found["accurate_dispatch_rate"] = ratio(counts.dispatches - counts.returns, counts.dispatches)
    return found


def average_handling_hours(counts: Counts) -> float | None:
    """Mean time from (last) dispatch to reported handling, in hours.

    >>> average_handling_hours(Counts(handling_timed=2, handling_seconds=3 * 3600))
    1.5
    """
    mean = ratio(counts.handling_seconds, counts.handling_timed)
    return None if mean is None else mean / 3600


def volume_points(due: int, bands: Sequence[tuple[int, float]]) -> float:
    """Points for the volume a department carried: the band of the most cases it reaches.

    >>> volume_points(120, [(300, 10), (100, 8), (1, 4)]), volume_points(0, [(1, 4)])
    (8, 0.0)
    """
    reached = [points for minimum, points in bands if due >= minimum]
    return max(reached) if reached else 0.0


def composite_score(
    measured: Mapping[str, float | None], due: int, policy: ScorePolicy = DEFAULT_POLICY
) -> float | None:
    """The composite score, 0–100, of one group's rates and its volume.

    A weighted rate with no figure (nothing handled, say) hands its weight to the rates that
    have one, in proportion, so a department is neither rewarded nor punished for a measure it
    had no occasion to earn. With no weighted figure at all there is no score.

    >>> composite_score({"closure_rate": 0.9, "on_time_handling_rate": 0.8,
    ...                  "rework_rate": 0.1}, due=150)
    86.0
    >>> composite_score({"closure_rate": 1.0, "on_time_handling_rate": 0.5,
    ...                  "rework_rate": None}, due=0)
    67.5
    """
    available = {
        name: weight
        for name, weight in policy.weights.items()
        if weight > 0 and measured.get(name) is not None
    }
    if not available:
        return None
    scale = sum(policy.weights.values()) / sum(available.values())
    score = 0.0
    for name, weight in available.items():
        value = measured[name]
        assert value is not None
        goodness = 1.0 - value if name in LOWER_IS_BETTER else value
        score += weight * scale * goodness
    return round(score + volume_points(due, policy.volume_bands), 6)


def grade(score: float | None, policy: ScorePolicy = DEFAULT_POLICY) -> str | None:
    """The grade band of a score (A ≥ 90, B ≥ 75, C ≥ 60, D ≥ 40, E below, by default).

    >>> [grade(s) for s in (95, 90, 74.99, 40, 12, None)]
    ['A', 'A', 'C', 'D', 'E', None]
    """
    if score is None:
        return None
    for name, minimum in policy.grades:
        if score >= minimum:
            return name
    return policy.lowest_grade


def ranks(scores: Sequence[float | None]) -> list[int | None]:
    """Competition ranks (1, 2, 2, 4) of scores, best first; no score, no rank.

    >>> ranks([70.0, 91.5, None, 70.0])
    [2, 1, None, 2]
    """
    ordered = sorted((s for s in scores if s is not None), reverse=True)
    first: dict[float, int] = {}
    for position, value in enumerate(ordered, start=1):
        first.setdefault(value, position)
    return [None if s is None else first[s] for s in scores]


@dataclass(frozen=True)
class Entrant:
    """A group in a ranking: its score, its cases due in the period, and its name."""

    score: float | None
    cases: int
    name: str


@dataclass(frozen=True)
class Standing:
    position: int  # where the group is listed, 0 first
    ranked: bool
    rank: int | None


def standings(entrants: Sequence[Entrant], *, min_cases: int) -> list[Standing]:
    """The ranking: who is ranked, their rank, and the order groups are listed in.

    A group with fewer than ``min_cases`` cases due in the period, or no score, is listed
    unranked: a score over a handful of cases says little. Ranked groups get competition ranks
    by score (ties share a rank: 1, 2, 2, 4). The second key, within a tie, is the number of
    cases due (more first: the same score over more cases is the firmer result), then the name;
    unranked groups follow the ranked ones in that same order. One ``Standing`` per entrant, in
    the entrants' order.

    >>> rows = [Entrant(94.0, 5, "Tiny office"), Entrant(88.0, 120, "Roads"),
    ...         Entrant(88.0, 300, "Water"), Entrant(91.0, 40, "Parks"), Entrant(None, 0, "New")]
    >>> [(s.position, s.ranked, s.rank) for s in standings(rows, min_cases=20)]
    [(3, False, None), (2, True, 2), (1, True, 2), (0, True, 1), (4, False, None)]
    """
    ranked = [
        i for i, e in enumerate(entrants) if e.score is not None and e.cases >= max(min_cases, 0)
    ]
    scores = ranks([entrants[i].score if i in set(ranked) else None for i in range(len(entrants))])

    def order(i: int) -> tuple[bool, float, int, str]:
        e = entrants[i]
        inside = scores[i] is not None
        return (not inside, -(e.score or 0.0) if inside else 0.0, -e.cases, e.name)

    listed = sorted(range(len(entrants)), key=order)
    position = {i: p for p, i in enumerate(listed)}
    return [
        Standing(position=position[i], ranked=scores[i] is not None, rank=scores[i])
        for i in range(len(entrants))
    ]


# ---------------------------------------------------------------------------------------------
# The clock on a case in a work queue

ClockStatus = Literal["overdue", "at_risk", "on_track", "paused", "no_deadline"]

CLOCK_ORDER: dict[str, int] = {
    "overdue": 0,
    "at_risk": 1,
    "on_track": 2,
    "paused": 3,
    "no_deadline": 4,
}


def clock_status(
    *,
    now: datetime,
    started: datetime | None,
    deadline: datetime | None,
    suspended: bool = False,
    at_risk_share: float = 0.8,
) -> ClockStatus:
    """Where a case's clock stands: overdue, at risk (past the warning share), on track.

    >>> t0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
    >>> clock_status(now=t0 + timedelta(hours=9), started=t0, deadline=t0 + timedelta(hours=10))
    'at_risk'
    >>> clock_status(now=t0 + timedelta(hours=11), started=t0, deadline=t0 + timedelta(hours=10))
    'overdue'
    """
    if suspended:
        return "paused"
    if deadline is None:
        return "no_deadline"
    if now > deadline:
        return "overdue"
    if started is not None and deadline > started:
        elapsed = (now - started) / (deadline - started)
        if elapsed >= at_risk_share:
            return "at_risk"
    return "on_track"
