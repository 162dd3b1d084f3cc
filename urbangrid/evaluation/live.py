"""The reference count: every measure straight from ``cases`` and ``case_events``.

One pass over the cases a period touches and two over its events, each event attributed to the
department that held the case at the time. The rollups are tested against it, and it answers
before they are first built and for periods that are not whole local days.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    and_,
    func,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session

from urbangrid.core.portable_sql import JsonNumber, SecondsBetween
from urbangrid.evaluation.facts import (
    EVENT_NAMES,
)
from urbangrid.evaluation.facts import count_of as _count
from urbangrid.evaluation.facts import instant as _instant
from urbangrid.evaluation.formulas import Counts, Period
from urbangrid.evaluation.scope import (
    CASE_TABLE,
    CASES,
    COUNTED_OUT,
    DISPATCH_ACTIONS,
    EVENT_TABLE,
    EVENTS,
    HANDLING_STANDS,
    Dimension,
    Question,
    S,
    Scope,
    _case_filters,
    _case_group,
    _within,
)
from urbangrid.evaluation.tally import _groups, add_events, finish
from urbangrid.evaluation.tuning import planner_for_metrics


def count_cases_live(
    session: Session,
    *,
    period: Period,
    by: Dimension = Dimension.TOTAL,
    scope: Scope = Scope(),
    now: datetime,
    satisfied_score: float = 4,
    with_events: bool = True,
) -> dict[str | None, Counts]:
    """:func:`count_cases` straight from ``cases`` and ``case_events``: the reference.

    Slow at a million cases (every comparison on the wide row of every case the period
    touches); the rollups are tested against it.
    """
    question = Question(by, scope, satisfied_score, with_events)
    return count_question_live(session, period, question, now=now)


def count_question_live(
    session: Session, period: Period, question: Question, *, now: datetime
) -> dict[str | None, Counts]:
    """:func:`count_cases_live` of a :class:`~urbangrid.evaluation.scope.Question`."""
    planner_for_metrics(session)
    filters = _case_filters(session, question.scope)
    end = _instant(period.end)
    c = CASES
    counted = and_(c.filed_at.isnot(None), c.state.notin_(COUNTED_OUT))
    is_closed = and_(c.state == S.CLOSED, c.closed_at.isnot(None))
    closure_deadline = func.coalesce(c.case_deadline_at, c.deadline_at)
    touched = or_(
        _within(c.created_at, period),
        and_(
            counted,
            or_(
                _within(c.case_deadline_at, period),
                _within(c.deadline_at, period),
                _within(c.closed_at, period),
                _within(c.handled_at, period),
                _within(c.filed_at, period),
            ),
        ),
    )
    # Each case's facts are worked out once (the subquery, fenced by OFFSET 0 so the planner
    # does not fold it back in), then combined per count: the same comparisons are not repeated
    # in every aggregate, which is most of the cost at a million cases.
    facts = (
        select(
            _case_group(question.by).label("key"),
            _within(c.created_at, period).label("received"),
            counted.label("counted"),
            _within(closure_deadline, period).label("deadline_in"),
            closure_deadline.isnot(None).label("has_deadline"),
            and_(is_closed, _within(c.closed_at, period)).label("closed_in"),
            and_(is_closed, c.closed_at < end).label("closed_by_end"),
            (c.closed_at <= closure_deadline).label("closed_on_time"),
            (closure_deadline < _instant(period.as_of(now))).label("deadline_passed"),
            and_(c.state.in_(HANDLING_STANDS), c.handled_at.isnot(None)).label("stands"),
            _within(c.handled_at, period).label("handled_in"),
            (c.handled_at < end).label("handled_by_end"),
            _within(c.deadline_at, period).label("handling_deadline_in"),
            c.deadline_at.isnot(None).label("has_handling_deadline"),
            (c.handled_at <= c.deadline_at).label("handled_on_time"),
            _within(c.filed_at, period).label("filed_in"),
            (c.extension_count > 0).label("extended"),
            (c.rework_count > 0).label("reworked"),
            (c.reopen_count > 0).label("reopened"),
            c.dispatched_at.isnot(None).label("dispatched"),
            SecondsBetween(c.dispatched_at, c.handled_at).label("seconds"),
        )
        .where(touched, *filters)
        .offset(0)
        .subquery("facts")
    )
    f = facts.c
    due = and_(f.counted, or_(f.deadline_in, f.closed_in))
    closed = and_(due, f.closed_by_end)
    handling_due = and_(
        f.counted,
        f.has_handling_deadline,
        or_(f.handling_deadline_in, and_(f.stands, f.handled_in)),
    )
    handled = and_(f.counted, f.stands, f.handled_in)
    filed = and_(f.counted, f.filed_in)
    handling_timed = and_(handled, f.dispatched)
    columns: dict[str, ColumnElement[Any]] = {
        "received": _count(f.received),
        "filed": _count(filed),
        "extended": _count(and_(filed, f.extended)),
        "due": _count(due),
        "closed": _count(closed),
        "closed_on_time": _count(and_(closed, f.has_deadline, f.closed_on_time)),
        "overdue": _count(
            and_(
                due,
                f.has_deadline,
                or_(
                    and_(f.closed_by_end, not_(f.closed_on_time)),
                    and_(not_(f.closed_by_end), f.deadline_passed),
                ),
            )
        ),
        "handling_due": _count(handling_due),
        "handled_on_time": _count(
            and_(handling_due, f.stands, f.handled_by_end, f.handled_on_time)
        ),
        "handled": _count(handled),
        "reworked": _count(and_(handled, f.reworked)),
        "reopened": _count(and_(closed, f.reopened)),
        "handling_timed": _count(handling_timed),
        "handling_seconds": func.coalesce(func.sum(f.seconds).filter(handling_timed), 0.0),
    }
    query = select(f.key, *(value.label(name) for name, value in columns.items())).group_by(f.key)
    found = _groups(session.execute(query).all())
    if question.with_events:
        for key, values in _count_events(session, period, question).items():
            add_events(found, [(key, *(values.get(name, 0) for name in EVENT_NAMES))])
    return finish(found)


def _count_events(
    session: Session, period: Period, question: Question
) -> dict[str | None, dict[str, int]]:
    e = EVENTS
    by, scope = question.by, question.scope
    needs_cases = by not in (Dimension.TOTAL, Dimension.DEPARTMENTS) or bool(
        scope.area or scope.category
    )
    filters: list[Any] = [_within(e.at, period)]
    if scope.department:
        filters.append(e.department_code == scope.department)
    case_filters = _case_filters(session, scope, department=False) if needs_cases else []
    if by == Dimension.DEPARTMENTS:
        group: Any = e.department_code
    else:
        group = _case_group(by)
    source = EVENT_TABLE.join(CASE_TABLE, CASES.id == e.case_id) if needs_cases else EVENT_TABLE
    key = group.label("key")
    score = JsonNumber(e.detail, literal("score"))
    # Two queries: dispatches and returns need no more than the (action, at, department) index;
    # only the few ratings are read from the table for their score.
    queries: list[tuple[tuple[str, ...], dict[str, ColumnElement[Any]]]] = [
        (
            (*DISPATCH_ACTIONS, "return"),
            {
                "dispatches": _count(e.action.in_(DISPATCH_ACTIONS)),
                "returns": _count(e.action == "return"),
            },
        ),
        (
            ("rate",),
            {
                "ratings": _count(score.isnot(None)),
                "satisfied": _count(score >= question.satisfied_score),
            },
        ),
    ]
    found: dict[str | None, dict[str, int]] = {}
    for actions, columns in queries:
        query = (
            select(key, *(value.label(name) for name, value in columns.items()))
            .select_from(source)
            .where(e.action.in_(actions), *filters, *case_filters)
            .group_by(key)
        )
        for row in session.execute(query).mappings():
            found.setdefault(row["key"], {}).update({name: int(row[name]) for name in columns})
    return found
