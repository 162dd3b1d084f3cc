"""Every measure read from what the refresher keeps, exact at every read.

Totals and departments come from sums per department, day and kind; other groupings and filters
from one narrow row of day numbers per case and one per counted event; months, quarters, years
and rolling windows per base cell and department from the summaries. The cases written since the
last refresh are taken live in the same statement, so no figure lags (docs/evaluation.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Select,
    select,
)
from sqlmodel import Session

from urbangrid.evaluation.days import period_days
from urbangrid.evaluation.facts import (
    case_counts,
    event_counts,
    passed_by,
)
from urbangrid.evaluation.formulas import Counts, Period
from urbangrid.evaluation.live import count_cases_live
from urbangrid.evaluation.rollup_tables import DIRTY
from urbangrid.evaluation.scope import Dimension, Scope, columns_of, filters_on, group_on
from urbangrid.evaluation.sources import _Reading, event_facts_source, facts_source, rollup_zone
from urbangrid.evaluation.sums import SUMMARIZED, count_rollups, count_summaries
from urbangrid.evaluation.tally import _joined, finish
from urbangrid.evaluation.tuning import (
    _beside,
    count_rows,
    no_cycle_collection,
    planner_for_metrics,
)

# ---------------------------------------------------------------------------------------------
# Counting


def count_cases(
    session: Session,
    *,
    period: Period,
    by: Dimension = Dimension.TOTAL,
    scope: Scope = Scope(),
    now: datetime,
    satisfied_score: float = 4,
    with_events: bool = True,
) -> dict[str | None, Counts]:
    """Every count of :class:`~urbangrid.evaluation.formulas.Counts`, per group, for one period.

    The same figures as :func:`count_cases_live`, read from the facts the refresher keeps
    (``evaluation.refresh``): totals and departments, unfiltered or filtered by department, from
    the per-department-day rollups; every other grouping and filter from the per-case facts.
    Cases written since the last refresh are taken live, so nothing waits for the refresher.
    Counting falls back to :func:`count_cases_live` before the facts are first built, and for
    a period that is not made of whole days in the city's time zone (no period the API or the
    dashboard names). Groups with nothing to count are left out.
    """
    zone = rollup_zone(session)
    days = period_days(period, ZoneInfo(zone)) if zone else None
    if zone is None or days is None:
        return count_cases_live(
            session,
            period=period,
            by=by,
            scope=scope,
            now=now,
            satisfied_score=satisfied_score,
            with_events=with_events,
        )
    with no_cycle_collection():
        return _count_prepared(
            session,
            period=period,
            days=days,
            zone=zone,
            by=by,
            scope=scope,
            now=now,
            satisfied_score=satisfied_score,
            with_events=with_events,
        )


def _count_prepared(
    session: Session,
    *,
    period: Period,
    days: tuple[int, int],
    zone: str,
    by: Dimension,
    scope: Scope,
    now: datetime,
    satisfied_score: float,
    with_events: bool,
) -> dict[str | None, Counts]:
    planner_for_metrics(session)
    reading = _Reading(
        period=period,
        days=days,
        tz=ZoneInfo(zone),
        zone=zone,
        now=now,
        pending=session.execute(select(DIRTY.c.id).limit(1)).first() is not None,
    )
    if by in SUMMARIZED and scope == Scope():
        summed = count_summaries(
            session,
            reading,
            grouping=SUMMARIZED[by],
            satisfied_score=satisfied_score,
            with_events=with_events,
        )
        if summed is not None:
            return summed
    if by in (Dimension.TOTAL, Dimension.DEPARTMENTS) and not (scope.area or scope.category):
        found = count_rollups(
            session,
            reading,
            by=by,
            scope=scope,
            satisfied_score=satisfied_score,
            with_events=with_events,
        )[0]
        return finish(found)
    return _count_facts(
        session,
        reading,
        by=by,
        scope=scope,
        satisfied_score=satisfied_score,
        with_events=with_events,
    )


def _count_facts(
    session: Session,
    reading: _Reading,
    *,
    by: Dimension,
    scope: Scope,
    satisfied_score: float,
    with_events: bool,
) -> dict[str | None, Counts]:
    """Every count from the per-case and event facts: the rules of ``count_cases_live`` on days."""
    source = facts_source(reading)
    f = source.c
    facts_columns = columns_of(f)
    query = case_counts(
        source,
        reading.days,
        key=group_on(by, facts_columns),
        filters=filters_on(session, scope, facts_columns),
        passed=passed_by(f, today=reading.today, now=reading.now) if reading.running else None,
    )
    event_rows: Callable[[], Sequence[Sequence[Any]]] = tuple
    if with_events:
        events = _count_event_facts(
            session, reading, by=by, scope=scope, satisfied_score=satisfied_score
        )
        event_rows = _beside(session, events)
    case_rows = count_rows(session.connection(), query)
    return _joined(case_rows, event_rows())


def _count_event_facts(
    session: Session, reading: _Reading, *, by: Dimension, scope: Scope, satisfied_score: float
) -> Select[Any]:
    """Dispatches, returns and ratings from the event facts (the rules of ``_count_events``)."""
    source = event_facts_source(reading)
    columns = columns_of(source.c)
    return event_counts(
        source,
        reading.days,
        key=group_on(by, columns),
        filters=filters_on(session, scope, columns),
        satisfied={"satisfied": satisfied_score},
    )
