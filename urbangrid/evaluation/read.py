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

from sqlalchemy import Select
from sqlmodel import Session

from urbangrid.evaluation.facts import (
    case_counts,
    event_counts,
    passed_by,
)
from urbangrid.evaluation.formulas import Counts, Period
from urbangrid.evaluation.live import count_question_live
from urbangrid.evaluation.scope import Dimension, Question, Scope, columns_of, filters_on, group_on
from urbangrid.evaluation.sources import (
    _Reading,
    event_facts_source,
    facts_source,
    whole_days_reading,
)
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
    question = Question(by, scope, satisfied_score, with_events)
    return count_question(session, period, question, now=now)


def count_question(
    session: Session, period: Period, question: Question, *, now: datetime
) -> dict[str | None, Counts]:
    """:func:`count_cases` of a :class:`~urbangrid.evaluation.scope.Question`."""
    reading = whole_days_reading(session, period, now)
    if reading is None:
        return count_question_live(session, period, question, now=now)
    with no_cycle_collection():
        return _count_prepared(session, reading, question)


def _count_prepared(
    session: Session, reading: _Reading, question: Question
) -> dict[str | None, Counts]:
    planner_for_metrics(session)
    if question.by in SUMMARIZED and question.scope == Scope():
        summed = count_summaries(session, reading, question)
        if summed is not None:
            return summed
    scope = question.scope
    if question.by in (Dimension.TOTAL, Dimension.DEPARTMENTS) and not (
        scope.area or scope.category
    ):
        return finish(count_rollups(session, reading, question)[0])
    return _count_facts(session, reading, question)


def _count_facts(
    session: Session, reading: _Reading, question: Question
) -> dict[str | None, Counts]:
    """Every count from the per-case and event facts: the rules of ``count_cases_live`` on days."""
    source = facts_source(reading)
    f = source.c
    facts_columns = columns_of(f)
    query = case_counts(
        source,
        reading.days,
        key=group_on(question.by, facts_columns),
        filters=filters_on(session, question.scope, facts_columns),
        passed=passed_by(f, today=reading.today, now=reading.now) if reading.running else None,
    )
    event_rows: Callable[[], Sequence[Sequence[Any]]] = tuple
    if question.with_events:
        event_rows = _beside(session, _count_event_facts(session, reading, question))
    case_rows = count_rows(session.connection(), query)
    return _joined(case_rows, event_rows())


def _count_event_facts(session: Session, reading: _Reading, question: Question) -> Select[Any]:
    """Dispatches, returns and ratings from the event facts (the rules of ``_count_events``)."""
    source = event_facts_source(reading)
    columns = columns_of(source.c)
    return event_counts(
        source,
        reading.days,
        key=group_on(question.by, columns),
        filters=filters_on(session, question.scope, columns),
        satisfied={"satisfied": question.satisfied_score},
    )
