"""Reading the sums the refresher keeps: per department, day and kind (the rollups), and per
base cell or department for whole months, quarters, years and rolling windows (the summaries).
A deadline falling today, in a period still running, is judged to the minute.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Select,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session

from urbangrid.core.tables import Department
from urbangrid.domain.daynumbers import day_start
from urbangrid.evaluation.contributions import dirty_sources
from urbangrid.evaluation.days import NO_DAY, Flag, RollupKind
from urbangrid.evaluation.facts import (
    CASE_NAMES,
    EVENT_NAMES,
    case_counts,
    event_counts,
    not_yet_passed,
)
from urbangrid.evaluation.facts import instant as _instant
from urbangrid.evaluation.formulas import COUNT_NAMES, Counts
from urbangrid.evaluation.rollup_tables import (
    SATISFIED_SCORES,
    SUMMARIES,
    SUMMARY_GROUPINGS,
    SUMMARY_PERIODS,
)
from urbangrid.evaluation.scope import (
    TOTAL_KEY,
    Dimension,
    Question,
    UnknownFilter,
    columns_of,
    filters_on,
    group_on,
)
from urbangrid.evaluation.sources import _number, _Reading, facts_source, rollups_source, zero
from urbangrid.evaluation.tally import OVERDUE, SECONDS, TIMED, _Groups, _groups
from urbangrid.evaluation.tuning import count_rows

# The groupings whose tables of counts the refresher keeps whole for the periods it summarizes.
SUMMARIZED: dict[Dimension, str] = {Dimension.CELLS: "cells", Dimension.DEPARTMENTS: "departments"}


def count_summaries(
    session: Session, reading: _Reading, question: Question
) -> dict[str | None, Counts] | None:
    """The city-wide table of base cells or of departments (``question.by``, one of
    :data:`SUMMARIZED`) from the refresher's summaries, when the period is one it keeps (a
    month, quarter, year or rolling window); else None.

    One statement, so one snapshot: the summary rows, what the cases written since the last
    refresh add and take (as the facts' overlay does), and, while the period runs, the open
    cases whose deadline is still ahead, which the summaries count as overdue.
    """
    grouping = SUMMARIZED[question.by]
    satisfied_score, with_events = question.satisfied_score, question.with_events
    if satisfied_score not in SATISFIED_SCORES:
        return None
    first, end = reading.days
    kept = session.execute(
        select(SUMMARY_PERIODS.c.first_day).where(
            SUMMARY_PERIODS.c.first_day == first, SUMMARY_PERIODS.c.end_day == end
        )
    ).first()
    if kept is None:
        return None
    s = SUMMARIES.c
    column = SUMMARY_GROUPINGS[grouping]
    events = [s.dispatches, s.returns, s.ratings, s[f"satisfied_{int(satisfied_score)}"]]
    parts: list[Select[Any]] = [
        select(
            _number(0),
            s.key,
            *(s[name] for name in CASE_NAMES),
            *(events if with_events else [_number(0)] * len(EVENT_NAMES)),
        ).where(s.first_day == first, s.end_day == end, s.grouping == grouping)
    ]

    def part(number: int, counted: Select[Any], names: Sequence[str]) -> None:
        rows = counted.subquery(f"part_{len(parts)}")
        parts.append(
            select(
                _number(number),
                func.coalesce(rows.c.key, ""),
                *(
                    rows.c[name] if name in names else zero(name)
                    for name in (*CASE_NAMES, *EVENT_NAMES)
                ),
            )
        )

    if reading.pending:
        dirty = dirty_sources(reading.zone)
        for number, facts, happened in (
            (1, dirty.new_facts, dirty.new_events),
            (2, dirty.old_facts, dirty.old_events),
        ):
            part(
                number,
                case_counts(facts, reading.days, key=facts.c[column], passed=None),
                CASE_NAMES,
            )
            if with_events:
                part(
                    number,
                    event_counts(
                        happened,
                        reading.days,
                        key=happened.c[column],
                        satisfied={"satisfied": satisfied_score},
                    ),
                    EVENT_NAMES,
                )
    if reading.running:
        facts = facts_source(reading)
        ahead = not_yet_passed(
            facts, reading.days, key=facts.c[column], today=reading.today, now=reading.now
        ).subquery()
        part(3, select(ahead.c.key, ahead.c.not_passed.label("overdue")), ("overdue",))
    statement = union_all(*parts) if len(parts) > 1 else parts[0]
    rows = count_rows(session.connection(), statement)
    return _summed_groups(rows)


def _summed_groups(rows: Iterable[Sequence[Any]]) -> dict[str | None, Counts]:
    """Rows of (part, group, counts) as a table of counts: the summaries (part 0), plus what
    new facts add (1), minus what old facts took (2) and the deadlines still ahead (3)."""
    new = tuple.__new__
    found: dict[str | None, Any] = {}
    changes = []
    for row in rows:
        if row[0] == 0:
            found[row[1] or None] = row[2:]
        else:
            changes.append(row)
    if changes:
        width = len(COUNT_NAMES)
        for number, key, *values in changes:
            group = key or None
            slots = list(found.get(group, (0,) * width))
            sign = 1 if number == 1 else -1
            for index, value in enumerate(values):
                slots[index] += sign * value
            found[group] = tuple(slots)
    result: dict[str | None, Counts] = {}
    for group, counts in found.items():
        if not any(counts[:SECONDS]) and not any(counts[SECONDS + 1 :]):
            continue
        if not counts[TIMED] and counts[SECONDS]:
            # What was added and taken away again may leave a rounding crumb of seconds.
            counts = (*counts[:SECONDS], 0.0, *counts[SECONDS + 1 :])
        result[group] = new(Counts, counts)
    return result


def count_rollups(
    session: Session,
    reading: _Reading,
    question: Question,
    spans: Sequence[tuple[int, int]] = (),
) -> dict[int, _Groups]:
    """Totals and departments from the per-department-day rollups, events included.

    Per span of days (the period itself, or each bucket of a trend), in one query: each row is
    joined to the spans it touches, so a trend's thirteen weeks are one scan, not thirteen.
    """
    by, scope = question.by, question.scope
    spans = list(spans) or [reading.days]
    source = rollups_source(reading)
    r = source.c
    today = reading.today
    # The spans as a small table; a span still running judges deadlines passed before today
    # here, and today's to the minute below, from the facts.
    span_rows = [
        select(
            _number(index).label("span"),
            _number(first).label("first"),
            _number(end).label("end"),
            _number(today if today < end else end).label("cutoff"),
        )
        for index, (first, end) in enumerate(spans)
    ]
    table = (span_rows[0] if len(span_rows) == 1 else union_all(*span_rows)).subquery("spans")
    b = table.c
    kind = r.kind

    def within(column: Any) -> ColumnElement[bool]:
        return and_(column >= b.first, column < b.end)

    def has(bit: Flag) -> ColumnElement[bool]:
        return r.flags.op("&")(int(bit)) != 0  # type: ignore[no-any-return]

    def total(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.coalesce(func.sum(r.n).filter(condition), 0)

    closure = kind == int(RollupKind.CLOSURE)
    handling = kind == int(RollupKind.HANDLING)
    due = and_(closure, or_(within(r.day1), within(r.day2)))
    closed_by_end = and_(r.day2 > NO_DAY, r.day2 < b.end)
    passed = r.day1 < b.cutoff
    closed = and_(due, closed_by_end)
    handled = and_(handling, within(r.day2))
    handling_due = and_(handling, r.day1 > NO_DAY, or_(within(r.day1), within(r.day2)))
    filed = and_(kind == int(RollupKind.FILED), within(r.day1))
    event = within(r.day1)
    columns: dict[str, ColumnElement[Any]] = {
        "received": total(and_(kind == int(RollupKind.RECEIVED), within(r.day1))),
        "filed": total(filed),
        "extended": total(and_(filed, has(Flag.EXTENDED))),
        "due": total(due),
        "closed": total(closed),
        "closed_on_time": total(and_(closed, has(Flag.ON_TIME))),
        "overdue": total(
            and_(
                due,
                r.day1 > NO_DAY,
                or_(
                    and_(closed_by_end, ~has(Flag.ON_TIME)),
                    and_(~closed_by_end, passed),
                ),
            )
        ),
        "handling_due": total(handling_due),
        "handled_on_time": total(
            and_(handling_due, r.day2 > NO_DAY, r.day2 < b.end, has(Flag.ON_TIME))
        ),
        "handled": total(handled),
        "reworked": total(and_(handled, has(Flag.REWORKED))),
        "reopened": total(and_(closed, has(Flag.REOPENED))),
        "handling_timed": total(and_(handled, has(Flag.TIMED))),
        "handling_seconds": func.coalesce(
            func.sum(r.seconds).filter(and_(handled, has(Flag.TIMED))), 0.0
        ),
        "dispatches": total(and_(kind == int(RollupKind.DISPATCH), event)),
        "returns": total(and_(kind == int(RollupKind.RETURN), event)),
        "ratings": total(and_(kind == int(RollupKind.RATING), event)),
        "satisfied": total(
            and_(kind == int(RollupKind.RATING), event, r.score >= question.satisfied_score)
        ),
    }
    if not question.with_events:
        for name in EVENT_NAMES:
            del columns[name]
    department = case((r.department_code == "", None), else_=r.department_code)
    key = (literal(TOTAL_KEY) if by == Dimension.TOTAL else department).label("key")
    filters = []
    if scope.department:
        if session.get(Department, scope.department) is None:
            raise UnknownFilter("department", f"no department has the code {scope.department!r}")
        filters.append(r.department_code == scope.department)
    query = (
        select(b.span, key, *(value.label(name) for name, value in columns.items()))
        .select_from(source.join(table, or_(within(r.day1), within(r.day2))))
        .where(*filters)
        .group_by(b.span, key)
    )
    rows = session.execute(query).all()
    found: dict[int, _Groups] = {index: {} for index in range(len(spans))}
    for index in found:
        found[index] = _groups(row[1:] for row in rows if row[0] == index)
    for index, (first, end) in enumerate(spans):
        if first <= today < end and reading.now < day_start(end, reading.tz):
            late = _overdue_today(session, reading, question, end=end)
            for key_value, count in late.items():
                found[index].setdefault(key_value, [0] * len(COUNT_NAMES))[OVERDUE] += count
    return found


def _overdue_today(
    session: Session, reading: _Reading, question: Question, *, end: int
) -> dict[str | None, int]:
    """Cases due in the running period whose deadline passed today, before now, still open at
    the period's end: the part of ``overdue`` that day numbers alone cannot decide."""
    source = facts_source(reading)
    f = source.c
    columns = columns_of(f)
    key = group_on(question.by, columns).label("key")
    query = (
        select(key, func.count().label("late"))
        .where(
            f.deadline_day == reading.today,
            f.deadline_at < _instant(reading.now),
            or_(f.closed_day.is_(None), f.closed_day >= end),
            *filters_on(session, question.scope, columns),
        )
        .group_by(key)
    )
    return {row.key: int(row.late) for row in session.execute(query)}
