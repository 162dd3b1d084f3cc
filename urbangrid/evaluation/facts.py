"""The measures as SQL over the refresher's facts: one statement per table of counts.

A case's contribution to a period of whole local days depends on the days of the moments the
measures compare (see :mod:`urbangrid.evaluation.days`), so counting a period is a pass over
``metric_case_facts`` and ``metric_event_facts`` (or a live stand-in of the same columns) with
day comparisons. Two readers use these statements: the evaluation (``urbangrid.evaluation``) for any
grouping and filter, and the refresher (``evaluation.refresh``) to keep the per-cell summaries of
months, quarters and years, which the city-wide table of base cells reads instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, literal, not_, or_, select, true
from sqlalchemy.sql import ColumnElement

from urbangrid.core.columns import UTCDateTime
from urbangrid.evaluation.days import EventKind
from urbangrid.evaluation.formulas import COUNT_NAMES

EVENT_NAMES = ("dispatches", "returns", "ratings", "satisfied")
CASE_NAMES = tuple(name for name in COUNT_NAMES if name not in EVENT_NAMES)
FACT_DAYS = (
    "created_day",
    "filed_day",
    "deadline_day",
    "closed_day",
    "handling_deadline_day",
    "handled_day",
)


def instant(value: datetime) -> ColumnElement[datetime]:
    return literal(value, UTCDateTime())


def days_within(column: Any, days: tuple[int, int]) -> ColumnElement[bool]:
    return and_(column >= days[0], column < days[1])


def count_of(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count().filter(condition)


def passed_by(facts: Any, *, today: int, now: datetime) -> ColumnElement[bool]:
    """A case's deadline has passed at ``now`` (on ``today``), judged to the minute today."""
    return or_(
        facts.deadline_day < today,
        and_(facts.deadline_day == today, facts.deadline_at < instant(now)),
    )


def case_counts(
    source: Any,
    days: tuple[int, int],
    *,
    key: ColumnElement[Any],
    filters: Sequence[ColumnElement[bool]] = (),
    passed: ColumnElement[bool] | None,
) -> Select[Any]:
    """Rows of (key, the cases' counts in :data:`CASE_NAMES` order) for the days ``[first, end)``.

    ``passed`` says whether a case's deadline has passed as the period is judged: the deadline
    before now, while the period runs (:func:`passed_by`). None judges every deadline passed,
    as at the end of a finished period: the summaries are kept so, and a running period's reader
    takes back what :func:`not_yet_passed` finds.
    """
    f = source.c
    end = days[1]
    deadline_in = days_within(f.deadline_day, days)
    closed_in = days_within(f.closed_day, days)
    handled = days_within(f.handled_day, days)
    handling_due = and_(
        f.handling_deadline_day.isnot(None),
        or_(days_within(f.handling_deadline_day, days), handled),
    )
    touched = or_(*(days_within(f[name], days) for name in FACT_DAYS))
    # Each case's conditions once (fenced by OFFSET 0 so the planner keeps them apart), then
    # combined per count: the same comparisons are not repeated in every aggregate.
    each = (
        select(
            key.label("key"),
            days_within(f.created_day, days).label("received"),
            days_within(f.filed_day, days).label("filed"),
            (f.extended == 1).label("extended"),
            or_(deadline_in, closed_in).label("due"),
            (f.closed_day < end).label("closed_by_end"),
            or_(f.closed_day.is_(None), f.closed_day >= end).label("open_at_end"),
            f.deadline_day.isnot(None).label("has_deadline"),
            (true() if passed is None else passed).label("passed"),
            (f.closed_on_time == 1).label("closed_on_time"),
            (f.reopened == 1).label("reopened"),
            handling_due.label("handling_due"),
            (f.handled_day < end).label("handled_by_end"),
            (f.handled_on_time == 1).label("handled_on_time"),
            handled.label("handled"),
            (f.reworked == 1).label("reworked"),
            f.handling_seconds,
        )
        .where(touched, *filters)
        .offset(0)
        .subquery("each")
    )
    e = each.c
    closed = and_(e.due, e.closed_by_end)
    timed = and_(e.handled, e.handling_seconds.isnot(None))
    columns: dict[str, ColumnElement[Any]] = {
        "received": count_of(e.received),
        "filed": count_of(e.filed),
        "extended": count_of(and_(e.filed, e.extended)),
        "due": count_of(e.due),
        "closed": count_of(closed),
        "closed_on_time": count_of(and_(closed, e.closed_on_time)),
        "overdue": count_of(
            and_(
                e.due,
                e.has_deadline,
                or_(
                    and_(e.closed_by_end, not_(e.closed_on_time)),
                    and_(e.open_at_end, e.passed),
                ),
            )
        ),
        "handling_due": count_of(e.handling_due),
        "handled_on_time": count_of(and_(e.handling_due, e.handled_by_end, e.handled_on_time)),
        "handled": count_of(e.handled),
        "reworked": count_of(and_(e.handled, e.reworked)),
        "reopened": count_of(and_(closed, e.reopened)),
        "handling_timed": count_of(timed),
        "handling_seconds": func.coalesce(func.sum(e.handling_seconds).filter(timed), 0.0),
    }
    assert tuple(columns) == CASE_NAMES
    return select(e.key, *(value.label(name) for name, value in columns.items())).group_by(e.key)


def not_yet_passed(
    source: Any,
    days: tuple[int, int],
    *,
    key: ColumnElement[Any],
    today: int,
    now: datetime,
    filters: Sequence[ColumnElement[bool]] = (),
) -> Select[Any]:
    """Rows of (key, how many) of the cases due in a running period, open at its end, whose
    deadline has not passed at ``now``: what :func:`case_counts` with ``passed=None`` counts as
    overdue and a reader of a running period must not. Only deadlines from today on are read."""
    f = source.c
    first, end = days
    return (
        select(key.label("key"), func.count().label("not_passed"))
        .where(
            f.deadline_day >= max(first, today),
            f.deadline_day < end,
            or_(f.closed_day.is_(None), f.closed_day >= end),
            not_(passed_by(f, today=today, now=now)),
            *filters,
        )
        .group_by(key)
    )


def event_counts(
    source: Any,
    days: tuple[int, int],
    *,
    key: ColumnElement[Any],
    filters: Sequence[ColumnElement[bool]] = (),
    satisfied: Mapping[str, float],
) -> Select[Any]:
    """Rows of (key, dispatches, returns, ratings, then the ratings of at least each score of
    ``satisfied``, named as it names them) from the event facts of the days ``[first, end)``."""
    e = source.c
    rating = e.kind == int(EventKind.RATING)
    counts: list[ColumnElement[Any]] = [
        count_of(e.kind == int(EventKind.DISPATCH)).label("dispatches"),
        count_of(e.kind == int(EventKind.RETURN)).label("returns"),
        count_of(rating).label("ratings"),
        *(
            count_of(and_(rating, e.score >= score)).label(name)
            for name, score in satisfied.items()
        ),
    ]
    return select(key.label("key"), *counts).where(days_within(e.day, days), *filters).group_by(key)
