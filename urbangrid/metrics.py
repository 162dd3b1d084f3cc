"""The evaluation in SQL: one implementation behind the metrics API, the dashboard and the bench.

What is counted, and how counts become rates, scores and grades, is defined in
:mod:`urbangrid.domain.metrics`; this module only counts. :func:`count_cases` reads what the
refresher keeps (``urbangrid.rollups``): totals and departments from sums per department, day
and kind, every other grouping and filter from one narrow row of day numbers per case and one
per counted event, with the cases written since the last refresh taken live in the same
statement, so the figures never lag. :func:`count_cases_live` counts the same from ``cases`` and
``case_events`` directly (one pass over the cases a period touches, two over its events, each
event attributed to the department that held the case at the time): the reference the rollups
are tested against, and the fallback before they are first built. Both give the same answer on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Select,
    String,
    and_,
    case,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.selectable import CompoundSelect
from sqlmodel import Session

from urbangrid.domain.metrics import (
    CLOCK_ORDER,
    COUNT_NAMES,
    DEFAULT_POLICY,
    BucketUnit,
    ClockStatus,
    Counts,
    Entrant,
    Period,
    ScorePolicy,
    average_handling_hours,
    buckets,
    clock_status,
    composite_score,
    grade,
    rates,
    standings,
)
from urbangrid.domain.rollups import (
    NO_DAY,
    Flag,
    RollupKind,
    day_number,
    day_start,
    period_days,
)
from urbangrid.domain.sla import Stage
from urbangrid.domain.states import OPEN_STATES, CaseState
from urbangrid.domain.steps import STAGE_NAMES, STAGE_OWNER, StepCounts, step_rates
from urbangrid.domain.workflow import Role
from urbangrid.fact_counts import (
    CASE_NAMES,
    EVENT_NAMES,
    case_counts,
    event_counts,
    not_yet_passed,
    passed_by,
)
from urbangrid.fact_counts import count_of as _count
from urbangrid.fact_counts import days_within as _days_within
from urbangrid.fact_counts import instant as _instant
from urbangrid.portable_sql import JsonNumber, SecondsBetween
from urbangrid.rollups import (
    CLOCK_FACTS,
    DIRTY,
    EVENT_FACTS,
    FACTS,
    ROLLUP_KEY,
    ROLLUPS,
    SATISFIED_SCORES,
    STEP_KEY,
    STEP_ROLLUPS,
    SUMMARIES,
    SUMMARY_GROUPINGS,
    SUMMARY_PERIODS,
    built_timezone,
    clock_facts_select,
    contributions,
    dirty_cases,
    dirty_sources,
    event_facts_select,
    facts_select,
    step_contributions,
)
from urbangrid.tables import Case, CaseEvent, Category, Department, GridArea, SlaClock

S = CaseState
CASE_TABLE = Case.__table__  # type: ignore[attr-defined]
EVENT_TABLE = CaseEvent.__table__  # type: ignore[attr-defined]
CASES = CASE_TABLE.c
EVENTS = EVENT_TABLE.c
AREAS = GridArea.__table__.c  # type: ignore[attr-defined]
DEPARTMENTS = Department.__table__.c  # type: ignore[attr-defined]
CATEGORIES = Category.__table__.c  # type: ignore[attr-defined]
SLA = SlaClock.__table__  # type: ignore[attr-defined]


class Dimension(StrEnum):
    """What the figures are grouped by."""

    TOTAL = "total"
    DEPARTMENTS = "departments"
    DISTRICTS = "districts"  # grid level 1
    STREETS = "streets"  # 2
    COMMUNITIES = "communities"  # 3
    CELLS = "cells"  # 4
    CATEGORIES = "categories"  # minor classes
    MAJORS = "majors"  # major classes, e.g. E01


LEVEL_OF: dict[Dimension, int] = {
    Dimension.DISTRICTS: 1,
    Dimension.STREETS: 2,
    Dimension.COMMUNITIES: 3,
    Dimension.CELLS: 4,
}
AREA_DIMENSION: dict[int, Dimension] = {level: dim for dim, level in LEVEL_OF.items()}

# Major classes of the standard taxonomy (DOMAIN.md §2): the first three characters of a code.
MAJOR_CLASSES: dict[str, tuple[str, str]] = {
    "C01": ("公用设施", "Public utilities"),
    "C02": ("道路交通", "Roads and traffic"),
    "C03": ("市容环境", "City appearance"),
    "C04": ("园林绿化", "Landscaping"),
    "C05": ("房屋土地", "Buildings and land"),
    "C06": ("其他设施", "Other facilities"),
    "E01": ("市容环境", "City appearance"),
    "E02": ("宣传广告", "Advertising"),
    "E03": ("施工管理", "Construction"),
    "E04": ("突发事件", "Emergencies"),
    "E05": ("街面秩序", "Street order"),
}
_MAJOR = re.compile(r"^[A-Z]\d{2}$")

COUNTED_OUT = (S.VOID, S.SUSPENDED)
HANDLING_STANDS = (S.HANDLED, S.CHECKED, S.CLOSED)
DISPATCH_ACTIONS = ("dispatch", "redispatch")
TOTAL_KEY = "all"


class UnknownFilter(ValueError):
    """A filter names something that does not exist; ``field`` says which filter."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class Scope:
    """Filters: a department code, a grid area code of any level, a category or major class."""

    department: str | None = None
    area: str | None = None
    category: str | None = None


# ---------------------------------------------------------------------------------------------
# Portable SQL pieces


def _within(column: Any, period: Period) -> ColumnElement[bool]:
    return and_(column >= _instant(period.start), column < _instant(period.end))


def _planner_for_metrics(session: Session | Connection) -> None:
    """Tune PostgreSQL's planner for these queries, for the current transaction only.

    JIT compiles the sub-second aggregates for longer than they run; and the default
    random_page_cost (4, for spinning disks) makes the planner scan the whole cases table rather
    than look up the period's events' cases by primary key, twice as slow on cached pages.
    """
    bind = session.get_bind() if isinstance(session, Session) else session
    if bind.dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL random_page_cost = 1.1"))
        session.execute(text("SET LOCAL work_mem = '64MB'"))


# The events' counts of a table of counts run on a second connection while the cases' counts
# run on the session's: on PostgreSQL each statement is one backend on one core, and a city-wide
# table of base cells spends a third of its time in the events' aggregate.
_BESIDE = ThreadPoolExecutor(max_workers=4, thread_name_prefix="urbangrid-metrics")


def _new_pool_after_fork() -> None:
    # A forked child (a Celery or web worker) inherits the pool but not its threads.
    global _BESIDE
    _BESIDE = ThreadPoolExecutor(max_workers=4, thread_name_prefix="urbangrid-metrics")


os.register_at_fork(after_in_child=_new_pool_after_fork)


def _beside(session: Session, query: Select[Any]) -> Callable[[], Sequence[Sequence[Any]]]:
    """Start ``query`` beside the session's next statement; a function that waits for its rows.

    Only on PostgreSQL with a session bound to an engine: it reads what is committed, as a second
    statement of the session's own transaction would (READ COMMITTED). Elsewhere (SQLite: one
    writer, and a test's session may hold rows not yet committed) the query runs in the session
    when its rows are asked for.
    """
    bind = session.get_bind()
    if bind.dialect.name != "postgresql" or not isinstance(bind, Engine):
        return lambda: _count_rows(session.connection(), query)

    def run() -> Sequence[Sequence[Any]]:
        with bind.connect() as connection:
            _planner_for_metrics(connection)
            return _count_rows(connection, query)

    return _BESIDE.submit(run).result


def _count_rows(
    connection: Connection, query: Select[Any] | CompoundSelect[Any]
) -> Sequence[Sequence[Any]]:
    """A table of counts' rows as plain tuples, sent in PostgreSQL's binary format.

    Its columns (a group's text key, integers, a float) need none of SQLAlchemy's conversions,
    and for tens of thousands of base cells, making a Row of each and parsing every count from
    text cost as much as the counting itself. Its parameters (integers, floats, text and aware
    instants) go to psycopg as they are, which is what SQLAlchemy would send.
    """
    if connection.dialect.name == "postgresql":
        compiled = query.compile(dialect=connection.dialect)
        statement = str(compiled)
        if "POSTCOMPILE" not in statement:  # no IN-list to expand, as none of ours has
            driver = connection.connection.driver_connection
            assert driver is not None
            with driver.cursor(binary=True) as cursor:
                cursor.execute(statement, compiled.construct_params())
                return cursor.fetchall()  # type: ignore[no-any-return]
    return connection.execute(query).all()


# ---------------------------------------------------------------------------------------------
# Filters and groups


def area_level(session: Session, code: str) -> int:
    """The grid level of an area code, in any grid version; :class:`UnknownFilter` if none."""
    level = session.execute(
        select(AREAS.level).where(AREAS.code == code).limit(1)
    ).scalar_one_or_none()
    if level is None:
        raise UnknownFilter("area", f"no grid area has the code {code!r}")
    return int(level)


@dataclass(frozen=True)
class _Columns:
    """Where a source keeps what the filters and groups read: cases, facts or events."""

    department: Any
    areas: dict[int, Any]  # grid level → code column
    category: Any


def _columns_of(table: Any, department: Any = None) -> _Columns:
    return _Columns(
        department=table.department_code if department is None else department,
        areas={level: table[f"l{level}_code"] for level in (1, 2, 3, 4)},
        category=table.category_code,
    )


_CASE_COLUMNS = _columns_of(CASES)


def _filters_on(
    session: Session, scope: Scope, columns: _Columns, *, department: bool = True
) -> list[Any]:
    found: list[Any] = []
    if scope.department and department:
        if session.get(Department, scope.department) is None:
            raise UnknownFilter("department", f"no department has the code {scope.department!r}")
        found.append(columns.department == scope.department)
    if scope.area:
        level = area_level(session, scope.area)
        found.append(columns.areas[level] == scope.area)
    if scope.category:
        if _MAJOR.match(scope.category):
            found.append(columns.category.startswith(scope.category, autoescape=True))
        elif session.get(Category, scope.category) is not None:
            found.append(columns.category == scope.category)
        else:
            raise UnknownFilter(
                "category",
                f"{scope.category!r} is neither a category code (E0102) nor a major class (E01)",
            )
    return found


def _case_filters(session: Session, scope: Scope, *, department: bool = True) -> list[Any]:
    return _filters_on(session, scope, _CASE_COLUMNS, department=department)


def _group_on(by: Dimension, columns: _Columns) -> Any:
    if by == Dimension.TOTAL:
        return literal(TOTAL_KEY)
    if by == Dimension.DEPARTMENTS:
        return columns.department
    if by in LEVEL_OF:
        return columns.areas[LEVEL_OF[by]]
    if by == Dimension.CATEGORIES:
        return columns.category
    return func.substr(columns.category, 1, 3)


def _case_group(by: Dimension) -> Any:
    return _group_on(by, _CASE_COLUMNS)


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
    """Every count of :class:`~urbangrid.domain.metrics.Counts`, per group, for one period.

    The same figures as :func:`count_cases_live`, read from the facts the refresher keeps
    (``urbangrid.rollups``): totals and departments, unfiltered or filtered by department, from
    the per-department-day rollups; every other grouping and filter from the per-case facts.
    Cases written since the last refresh are taken live, so nothing waits for the refresher.
    Counting falls back to :func:`count_cases_live` before the facts are first built, and for
    a period that is not made of whole days in the city's time zone (no period the API or the
    dashboard names). Groups with nothing to count are left out.
    """
    zone = _rollup_zone(session)
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
    with _no_cycle_collection():
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
    _planner_for_metrics(session)
    reading = _Reading(
        period=period,
        days=days,
        tz=ZoneInfo(zone),
        zone=zone,
        now=now,
        pending=session.execute(select(DIRTY.c.id).limit(1)).first() is not None,
    )
    if by in SUMMARIZED and scope == Scope():
        summed = _count_summaries(
            session,
            reading,
            grouping=SUMMARIZED[by],
            satisfied_score=satisfied_score,
            with_events=with_events,
        )
        if summed is not None:
            return summed
    if by in (Dimension.TOTAL, Dimension.DEPARTMENTS) and not (scope.area or scope.category):
        found = _count_rollups(
            session,
            reading,
            by=by,
            scope=scope,
            satisfied_score=satisfied_score,
            with_events=with_events,
        )[0]
        return _finish(found)
    return _count_facts(
        session,
        reading,
        by=by,
        scope=scope,
        satisfied_score=satisfied_score,
        with_events=with_events,
    )


# Positions in a group's list of counts (the order of Counts' fields).
_TIMED = COUNT_NAMES.index("handling_timed")
_SECONDS = COUNT_NAMES.index("handling_seconds")
_FIRST_EVENT = COUNT_NAMES.index("dispatches")
_OVERDUE = COUNT_NAMES.index("overdue")
_Groups = dict[str | None, list[Any]]


def _groups(rows: Iterable[Sequence[Any]]) -> _Groups:
    """Rows of (key, counts in Counts' order) as lists, zeros where a row stops short.

    Plain lists and positions, not dictionaries per group: a city has tens of thousands of cells.
    """
    width = len(COUNT_NAMES)
    found: _Groups = {}
    for key, *values in rows:
        if len(values) < width:
            values.extend([0] * (width - len(values)))
        found[key] = values
    return found


def _add_events(found: _Groups, rows: Iterable[Sequence[Any]]) -> None:
    """Add rows of (key, dispatches, returns, ratings, satisfied) to the groups."""
    width = len(COUNT_NAMES)
    for key, *values in rows:
        slots = found.get(key)
        if slots is None:
            slots = found[key] = [0] * width
        for offset, value in enumerate(values, _FIRST_EVENT):
            slots[offset] += value


def _finish(found: _Groups) -> dict[str | None, Counts]:
    """The groups' counts, leaving out groups with nothing to count."""
    result: dict[str | None, Counts] = {}
    new = tuple.__new__
    for key, values in found.items():
        if not any(values):
            continue
        # Sums of additions and subtractions of the same seconds may leave a rounding crumb.
        values[_SECONDS] = float(values[_SECONDS]) if values[_TIMED] else 0.0
        result[key] = new(Counts, values)
    return result


def _joined(
    case_rows: Iterable[Sequence[Any]], event_rows: Iterable[Sequence[Any]]
) -> dict[str | None, Counts]:
    """Rows of (key, the cases' counts) and of (key, the events' counts) as one table of counts.

    Built straight from the rows, without a list per group: a city-wide table of base cells is
    tens of thousands of groups, and this is most of the Python time it takes.
    """
    new = tuple.__new__
    events = {row[0]: tuple(row[1:]) for row in event_rows}
    no_events = (0,) * len(EVENT_NAMES)
    no_cases = tuple(0.0 if index == _SECONDS else 0 for index in range(_FIRST_EVENT))
    result: dict[str | None, Counts] = {}
    for row in case_rows:
        key = row[0]
        counted = tuple(row[1:])
        happened = events.pop(key, no_events)
        if counted != no_cases or happened != no_events:
            result[key] = new(Counts, counted + happened)
    for key, happened in events.items():
        if happened != no_events:
            result[key] = new(Counts, no_cases + happened)
    return result


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause the cycle collector while a table of counts is built: tens of thousands of rows,
    lists and Counts, none in a cycle, would otherwise be walked again and again as they grow
    (a third of the time of a city-wide table of base cells)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


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
    _planner_for_metrics(session)
    filters = _case_filters(session, scope)
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
            _case_group(by).label("key"),
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
    if with_events:
        for key, values in _count_events(
            session, period=period, by=by, scope=scope, satisfied_score=satisfied_score
        ).items():
            _add_events(found, [(key, *(values.get(name, 0) for name in EVENT_NAMES))])
    return _finish(found)


# ---------------------------------------------------------------------------------------------
# Counting from the refresher's facts and rollups


@dataclass(frozen=True)
class _Reading:
    period: Period
    days: tuple[int, int]  # the period as local days [first, end)
    tz: ZoneInfo
    zone: str
    now: datetime
    pending: bool  # cases written since the last refresh, to be taken live

    @property
    def running(self) -> bool:
        return self.now < self.period.end

    @property
    def today(self) -> int:
        return day_number(self.now, self.tz)


def _rollup_zone(session: Session) -> str | None:
    return built_timezone(session)


def _facts_source(reading: _Reading) -> Any:
    """The per-case facts, with the cases written since the last refresh taken live."""
    if not reading.pending:
        return FACTS
    kept = select(*FACTS.c).where(FACTS.c.case_id.notin_(dirty_cases()))
    fresh = facts_select(reading.zone, CASES.id.in_(dirty_cases()))
    return union_all(kept, fresh).subquery("facts")


def _event_facts_source(reading: _Reading) -> Any:
    if not reading.pending:
        return EVENT_FACTS
    kept = select(*EVENT_FACTS.c).where(EVENT_FACTS.c.case_id.notin_(dirty_cases()))
    fresh = event_facts_select(reading.zone, EVENTS.case_id.in_(dirty_cases()))
    return union_all(kept, fresh).subquery("event_facts")


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
    source = _facts_source(reading)
    f = source.c
    facts_columns = _columns_of(f)
    query = case_counts(
        source,
        reading.days,
        key=_group_on(by, facts_columns),
        filters=_filters_on(session, scope, facts_columns),
        passed=passed_by(f, today=reading.today, now=reading.now) if reading.running else None,
    )
    event_rows: Callable[[], Sequence[Sequence[Any]]] = tuple
    if with_events:
        events = _count_event_facts(
            session, reading, by=by, scope=scope, satisfied_score=satisfied_score
        )
        event_rows = _beside(session, events)
    case_rows = _count_rows(session.connection(), query)
    return _joined(case_rows, event_rows())


# The groupings whose tables of counts the refresher keeps whole for the periods it summarizes.
SUMMARIZED: dict[Dimension, str] = {Dimension.CELLS: "cells", Dimension.DEPARTMENTS: "departments"}


def _count_summaries(
    session: Session,
    reading: _Reading,
    *,
    grouping: str,
    satisfied_score: float,
    with_events: bool,
) -> dict[str | None, Counts] | None:
    """The city-wide table of base cells or of departments from the refresher's summaries,
    when the period is one it keeps (a month, quarter, year or rolling window); else None.

    One statement, so one snapshot: the summary rows, what the cases written since the last
    refresh add and take (as the facts' overlay does), and, while the period runs, the open
    cases whose deadline is still ahead, which the summaries count as overdue.
    """
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
                    rows.c[name] if name in names else _zero(name)
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
        facts = _facts_source(reading)
        ahead = not_yet_passed(
            facts, reading.days, key=facts.c[column], today=reading.today, now=reading.now
        ).subquery()
        part(3, select(ahead.c.key, ahead.c.not_passed.label("overdue")), ("overdue",))
    statement = union_all(*parts) if len(parts) > 1 else parts[0]
    rows = _count_rows(session.connection(), statement)
    return _summed_groups(rows)


def _zero(name: str) -> ColumnElement[Any]:
    return literal_column("0.0" if name == "handling_seconds" else "0")


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
        if not any(counts[:_SECONDS]) and not any(counts[_SECONDS + 1 :]):
            continue
        if not counts[_TIMED] and counts[_SECONDS]:
            # What was added and taken away again may leave a rounding crumb of seconds.
            counts = (*counts[:_SECONDS], 0.0, *counts[_SECONDS + 1 :])
        result[group] = new(Counts, counts)
    return result


def _count_event_facts(
    session: Session, reading: _Reading, *, by: Dimension, scope: Scope, satisfied_score: float
) -> Select[Any]:
    """Dispatches, returns and ratings from the event facts (the rules of ``_count_events``)."""
    source = _event_facts_source(reading)
    columns = _columns_of(source.c)
    return event_counts(
        source,
        reading.days,
        key=_group_on(by, columns),
        filters=_filters_on(session, scope, columns),
        satisfied={"satisfied": satisfied_score},
    )


def _rollups_source(reading: _Reading) -> Any:
    """The rollups, corrected by what the cases written since the last refresh add and take."""
    if not reading.pending:
        return ROLLUPS
    dirty = dirty_sources(reading.zone)
    return union_all(
        select(*(ROLLUPS.c[name] for name in (*ROLLUP_KEY, "n", "seconds"))),
        *contributions(dirty.new_facts, dirty.new_events, 1),
        *contributions(dirty.old_facts, dirty.old_events, -1),
    ).subquery("rollups")


def _count_rollups(
    session: Session,
    reading: _Reading,
    *,
    by: Dimension,
    scope: Scope,
    satisfied_score: float,
    with_events: bool,
    spans: Sequence[tuple[int, int]] = (),
) -> dict[int, _Groups]:
    """Totals and departments from the per-department-day rollups, events included.

    Per span of days (the period itself, or each bucket of a trend), in one query: each row is
    joined to the spans it touches, so a trend's thirteen weeks are one scan, not thirteen.
    """
    spans = list(spans) or [reading.days]
    source = _rollups_source(reading)
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
        "satisfied": total(and_(kind == int(RollupKind.RATING), event, r.score >= satisfied_score)),
    }
    if not with_events:
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
            late = _overdue_today(session, reading, by=by, scope=scope, end=end)
            for key_value, count in late.items():
                found[index].setdefault(key_value, [0] * len(COUNT_NAMES))[_OVERDUE] += count
    return found


def _number(value: int) -> ColumnElement[Any]:
    """An integer written into the SQL, typed like a column (see urbangrid.rollups)."""
    return literal_column(str(int(value)))


def _overdue_today(
    session: Session, reading: _Reading, *, by: Dimension, scope: Scope, end: int
) -> dict[str | None, int]:
    """Cases due in the running period whose deadline passed today, before now, still open at
    the period's end: the part of ``overdue`` that day numbers alone cannot decide."""
    source = _facts_source(reading)
    f = source.c
    columns = _columns_of(f)
    key = _group_on(by, columns).label("key")
    query = (
        select(key, func.count().label("late"))
        .where(
            f.deadline_day == reading.today,
            f.deadline_at < _instant(reading.now),
            or_(f.closed_day.is_(None), f.closed_day >= end),
            *_filters_on(session, scope, columns),
        )
        .group_by(key)
    )
    return {row.key: int(row.late) for row in session.execute(query)}


def _count_events(
    session: Session, *, period: Period, by: Dimension, scope: Scope, satisfied_score: float
) -> dict[str | None, dict[str, int]]:
    e = EVENTS
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
                "satisfied": _count(score >= satisfied_score),
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


# ---------------------------------------------------------------------------------------------
# Names of groups


def group_names(
    session: Session, by: Dimension, keys: Iterable[str | None], *, lang: str = "zh"
) -> dict[str | None, str]:
    """Display names of group keys: department names, area names, category names."""
    keys = list(keys)
    wanted = sorted({k for k in keys if k})
    names: dict[str | None, str] = {None: "—" if lang == "zh" else "(none)"}
    if by == Dimension.TOTAL:
        names[TOTAL_KEY] = "全市" if lang == "zh" else "City"
    elif by == Dimension.DEPARTMENTS and wanted:
        rows = session.execute(
            select(DEPARTMENTS.code, DEPARTMENTS.name).where(DEPARTMENTS.code.in_(wanted))
        )
        names.update({code: name for code, name in rows})
    elif by in LEVEL_OF and wanted:
        # Cases keep the codes they were given; the newest version that has a code names it.
        rows = session.execute(
            select(AREAS.code, AREAS.name).where(AREAS.code.in_(wanted)).order_by(AREAS.version_id)
        )
        names.update({code: name for code, name in rows})
    elif by == Dimension.CATEGORIES and wanted:
        rows = session.execute(
            select(CATEGORIES.code, CATEGORIES.name_zh, CATEGORIES.name_en).where(
                CATEGORIES.code.in_(wanted)
            )
        )
        names.update({code: zh if lang == "zh" else en for code, zh, en in rows})
    elif by == Dimension.MAJORS:
        names.update(major_names(session, wanted, lang=lang))
    return {k: names.get(k, k or "") for k in keys}


def major_names(session: Session, majors: Iterable[str], *, lang: str = "zh") -> dict[str, str]:
    """Names of major classes: the standard's, or for imported types the prefix they share."""
    found: dict[str, str] = {}
    for key in majors:
        known = MAJOR_CLASSES.get(key)
        if known:
            found[key] = known[0] if lang == "zh" else known[1]
            continue
        example = session.execute(
            select(CATEGORIES.name_en).where(CATEGORIES.code.startswith(key)).limit(1)
        ).scalar_one_or_none()
        found[key] = str(example).split("-", 1)[0].strip() if example else key
    return found


# ---------------------------------------------------------------------------------------------
# Evaluation: counts → rates, score, grade, rank


@dataclass(frozen=True)
class Evaluation:
    """One group's figures for one period."""

    key: str | None
    name: str
    counts: Counts
    rates: dict[str, float | None]
    average_handling_hours: float | None
    score: float | None
    grade: str | None
    rank: int | None = None
    # False for a group with too few cases in the period to be ranked (or no score).
    ranked: bool = False

    def flat(self) -> dict[str, Any]:
        """One row for a table or a CSV file: counts, rates, time, score, grade and rank."""
        return {
            "key": self.key,
            "name": self.name,
            **{name: getattr(self.counts, name) for name in COUNT_NAMES},
            **self.rates,
            "average_handling_hours": self.average_handling_hours,
            "score": self.score,
            "grade": self.grade,
            "ranked": self.ranked,
            "rank": self.rank,
        }


FLAT_COLUMNS: tuple[str, ...] = (
    "key",
    "name",
    *COUNT_NAMES,
    *rates(Counts()),
    "average_handling_hours",
    "score",
    "grade",
    "ranked",
    "rank",
)


def evaluate(
    session: Session,
    *,
    period: Period,
    by: Dimension,
    scope: Scope = Scope(),
    now: datetime,
    policy: ScorePolicy = DEFAULT_POLICY,
    satisfied_score: float = 4,
    lang: str = "zh",
    include: Sequence[str] = (),
    min_cases: int = 0,
) -> list[Evaluation]:
    """Figures per group, best score first, ranked (a ranking is only meaningful per period).

    ``include`` adds groups that had nothing in the period (every department, say), so that a
    published ranking lists them with their zeros rather than leaving them out. Groups with
    fewer than ``min_cases`` cases due are listed unranked; ties share a rank and are listed by
    cases due, then name (:func:`urbangrid.domain.metrics.standings`).
    """
    counted = count_cases(
        session, period=period, by=by, scope=scope, now=now, satisfied_score=satisfied_score
    )
    for wanted in include:
        counted.setdefault(wanted, Counts())
    names = group_names(session, by, counted, lang=lang)
    found = []
    for key, counts in counted.items():
        measured = rates(counts)
        score = composite_score(measured, counts.due, policy)
        found.append(
            Evaluation(
                key=key,
                name=names.get(key) or key or "",
                counts=counts,
                rates=measured,
                average_handling_hours=average_handling_hours(counts),
                score=score,
                grade=grade(score, policy),
            )
        )
    places = standings(
        [Entrant(e.score, e.counts.due, e.name or str(e.key)) for e in found], min_cases=min_cases
    )
    listed: list[Evaluation | None] = [None] * len(found)
    for e, place in zip(found, places, strict=True):
        listed[place.position] = Evaluation(
            **{**e.__dict__, "rank": place.rank, "ranked": place.ranked}
        )
    return [e for e in listed if e is not None]


def all_department_codes(session: Session) -> list[str]:
    return [str(code) for code in session.execute(select(DEPARTMENTS.code)).scalars()]


@dataclass(frozen=True)
class TrendPoint:
    bucket: str
    start: datetime
    end: datetime
    key: str | None
    counts: Counts
    rates: dict[str, float | None] = field(default_factory=dict)


def trend(
    session: Session,
    *,
    period: Period,
    unit: BucketUnit,
    tz: Any,
    by: Dimension = Dimension.TOTAL,
    scope: Scope = Scope(),
    now: datetime,
    satisfied_score: float = 4,
    with_events: bool = True,
) -> list[TrendPoint]:
    """The same counts per day, week or month of the period.

    Totals and departments come from the rollups in one query for every bucket; other
    groupings and filters count each bucket from the per-case facts (or live, see
    :func:`count_cases`).
    """
    found = buckets(period, unit, tz=tz)
    if by in (Dimension.TOTAL, Dimension.DEPARTMENTS) and not (scope.area or scope.category):
        zone = _rollup_zone(session)
        maybe = [
            period_days(Period(b.start, b.end, b.label), ZoneInfo(zone)) if zone else None
            for b in found
        ]
        spans = [span for span in maybe if span is not None]
        if zone and found and len(spans) == len(found):
            with _no_cycle_collection():
                _planner_for_metrics(session)
                reading = _Reading(
                    period=period,
                    days=(spans[0][0], spans[-1][1]),
                    tz=ZoneInfo(zone),
                    zone=zone,
                    now=now,
                    pending=session.execute(select(DIRTY.c.id).limit(1)).first() is not None,
                )
                per_span = _count_rollups(
                    session,
                    reading,
                    by=by,
                    scope=scope,
                    satisfied_score=satisfied_score,
                    with_events=with_events,
                    spans=spans,
                )
            points = []
            for index, bucket in enumerate(found):
                for key, counts in sorted(
                    _finish(per_span[index]).items(), key=lambda kv: str(kv[0])
                ):
                    points.append(
                        TrendPoint(
                            bucket.label, bucket.start, bucket.end, key, counts, rates(counts)
                        )
                    )
            return points
    points = []
    for bucket in found:
        sub = Period(bucket.start, bucket.end, bucket.label)
        counted = count_cases(
            session,
            period=sub,
            by=by,
            scope=scope,
            now=now,
            satisfied_score=satisfied_score,
            with_events=with_events,
        )
        for key, counts in sorted(counted.items(), key=lambda kv: str(kv[0])):
            points.append(
                TrendPoint(bucket.label, bucket.start, bucket.end, key, counts, rates(counts))
            )
    return points


def received_per_bucket(
    session: Session,
    *,
    period: Period,
    unit: BucketUnit,
    tz: Any,
    by: Dimension = Dimension.TOTAL,
    scope: Scope = Scope(),
) -> dict[tuple[str, str | None], int]:
    """Cases received per day, week or month of the period and per group, in one query.

    The same count as :func:`trend`'s ``received``, for charts that need nothing else.
    """
    found = buckets(period, unit, tz=tz)
    if not found:
        return {}
    label = case(
        *((CASES.created_at < _instant(b.end), literal(b.label)) for b in found),
        else_=literal(None),
    ).label("bucket")
    group = _case_group(by).label("key")
    rows = session.execute(
        select(label, group, func.count())
        .where(_within(CASES.created_at, period), *_case_filters(session, scope))
        .group_by(label, group)
    ).all()
    return {(str(bucket), key): int(count) for bucket, key, count in rows if bucket is not None}


def top_categories(
    session: Session, *, period: Period, level: int, scope: Scope = Scope(), limit: int = 3
) -> dict[str, list[tuple[str, int]]]:
    """The most reported categories of each area of a grid level (cases received in the period)."""
    area = CASES[f"l{level}_code"]
    received = func.count().label("received")
    rows = session.execute(
        select(area.label("area"), CASES.category_code, received)
        .where(_within(CASES.created_at, period), area.isnot(None), *_case_filters(session, scope))
        .group_by(area, CASES.category_code)
    ).all()
    found: dict[str, list[tuple[str, int]]] = {}
    for code, category, count in rows:
        found.setdefault(str(code), []).append((str(category), int(count)))
    return {
        code: sorted(pairs, key=lambda pair: (-pair[1], pair[0]))[:limit]
        for code, pairs in found.items()
    }


# ---------------------------------------------------------------------------------------------
# Now: what is open, overdue and at risk at this moment


def _clock_deadline() -> ColumnElement[datetime]:
    """The deadline of the stage a case is in (the handling deadline, for older rows)."""
    return func.coalesce(CASES.stage_deadline_at, CASES.deadline_at)


def _stage_start() -> ColumnElement[datetime]:
    """When the stage a case is in began, as its milestone columns record it."""
    c = CASES
    return case(
        (c.state.in_((S.HANDLED, S.CHECKED)), c.handled_at),
        (c.state.in_((S.DISPATCHED, S.IN_PROGRESS, S.SUSPENDED)), c.dispatched_at),
        (c.state.in_((S.FILED, S.RETURNED)), c.filed_at),
        else_=c.created_at,
    )


StepKey = tuple[str, str, str | None]  # stage, role, member of staff (None: not broken down)


def count_steps(
    session: Session,
    *,
    period: Period,
    scope: Scope = Scope(),
    now: datetime,
    by_actor: bool = False,
) -> dict[StepKey, StepCounts]:
    """Each stage clock's counts per stage and role (and member of staff) for one period.

    Read from the refresher's per-day step rollups (``urbangrid.rollups``), unfiltered or
    filtered by department, with the cases written since the last refresh taken live; the same
    figures as :func:`count_steps_live`, which counts filters by area or category, periods not
    made of whole days, and everything before the rollups are first built.
    """
    zone = _rollup_zone(session)
    days = period_days(period, ZoneInfo(zone)) if zone else None
    if zone is None or days is None or scope.area or scope.category:
        return count_steps_live(session, period=period, scope=scope, now=now, by_actor=by_actor)
    _planner_for_metrics(session)
    filters = _case_filters(session, scope)  # names an unknown department
    reading = _Reading(
        period=period,
        days=days,
        tz=ZoneInfo(zone),
        zone=zone,
        now=now,
        pending=session.execute(select(DIRTY.c.id).limit(1)).first() is not None,
    )
    source = _step_source(reading)
    r = source.c
    first, end = days
    today = reading.today
    # A clock not stopped by the period's end is late once its deadline has passed: before
    # the end, or before now while the period runs (today's deadlines to the minute, below).
    cutoff = min(today, end)
    done = and_(r.day2 > NO_DAY, r.day2 < end)
    actor = r.stopped_by if by_actor else literal("")
    query = (
        select(
            r.stage,
            r.stopped_role,
            actor,
            done,
            func.sum(r.n),
            func.coalesce(func.sum(r.n).filter(and_(done, r.on_time == 1)), 0),
            func.coalesce(
                func.sum(r.n).filter(
                    or_(and_(done, r.on_time == 0), and_(not_(done), r.day1 < cutoff))
                ),
                0,
            ),
            func.coalesce(func.sum(r.seconds).filter(done), 0.0),
        )
        .where(
            or_(_days_within(r.day1, days), _days_within(r.day2, days)),
            *([r.department_code == scope.department] if scope.department else []),
        )
        .group_by(r.stage, r.stopped_role, actor, done)
    )
    found: dict[StepKey, StepCounts] = {}

    def add(key: StepKey, counts: StepCounts) -> None:
        had = found.get(key)
        found[key] = (
            counts if had is None else StepCounts._make(map(sum, zip(had, counts, strict=True)))
        )

    for stage, stopped_role, stopper, stopped, due, on_time, overdue, seconds in session.execute(
        query
    ):
        if not due:
            continue
        owner = _owner_of(stage)
        # A clock not yet stopped (or stopped with nobody named) is its stage owner's.
        if stopped:
            key = (stage, stopped_role or owner, (stopper or None) if by_actor else None)
        else:
            key = (stage, owner, None)
        add(
            key,
            StepCounts(
                int(due),
                int(due) if stopped else 0,
                int(on_time),
                int(overdue),
                float(seconds) if stopped else 0.0,
            ),
        )
    if first <= today < end and now < day_start(end, reading.tz):
        c = SLA.c
        late = (
            select(c.stage, func.count())
            .select_from(SLA.join(CASE_TABLE, CASES.id == c.case_id) if filters else SLA)
            .where(
                c.deadline_at >= _instant(day_start(today, reading.tz)),
                c.deadline_at < _instant(now),
                or_(c.stopped_at.is_(None), c.stopped_at >= _instant(period.end)),
                c.paused_at.is_(None),
                *filters,
            )
            .group_by(c.stage)
        )
        for stage, count in session.execute(late):
            add((stage, _owner_of(stage), None), StepCounts(0, 0, 0, int(count), 0.0))
    return found


def _owner_of(stage: str) -> str:
    for known, role in STAGE_OWNER.items():
        if known.value == stage:
            return role.value
    return Role.SYSTEM.value


def _step_source(reading: _Reading) -> Any:
    """The step rollups, corrected by what the cases written since the last refresh add and
    take (their clocks as they are now, and as the refresher last saw them)."""
    if not reading.pending:
        return STEP_ROLLUPS
    fresh = clock_facts_select(reading.zone, SLA.c.case_id.in_(dirty_cases())).subquery("fresh")
    old = select(CLOCK_FACTS).where(CLOCK_FACTS.c.case_id.in_(dirty_cases())).subquery("old")
    return union_all(
        select(*(STEP_ROLLUPS.c[name] for name in (*STEP_KEY, "n", "seconds"))),
        step_contributions(fresh, 1),
        step_contributions(old, -1),
    ).subquery("steps")


def count_steps_live(
    session: Session,
    *,
    period: Period,
    scope: Scope = Scope(),
    now: datetime,
    by_actor: bool = False,
) -> dict[StepKey, StepCounts]:
    """:func:`count_steps` straight from ``sla_clock``: the reference the step rollups are
    tested against, and the count for filters by area or category.

    The rules are :mod:`urbangrid.domain.steps`'; each stopped clock names who stopped it
    (``sla_clock.stopped_by``, kept by ``urbangrid.clocks``).
    """
    _planner_for_metrics(session)
    c = SLA.c
    start, end = _instant(period.start), _instant(period.end)
    owner = case(
        *((c.stage == stage.value, literal(role.value)) for stage, role in STAGE_OWNER.items()),
        else_=literal(Role.SYSTEM.value),
    )
    done = and_(c.stopped_at.isnot(None), c.stopped_at < end)
    filters = _case_filters(session, scope)
    source = SLA.join(CASE_TABLE, CASES.id == c.case_id) if filters else SLA
    each = (
        select(
            c.stage,
            # A clock not yet stopped (or stopped with nobody named) is its stage owner's.
            case((done, func.coalesce(c.stopped_role, owner)), else_=owner).label("role"),
            (case((done, c.stopped_by)) if by_actor else literal(None, String())).label("actor"),
            done.label("done"),
            and_(done, c.stopped_at <= c.deadline_at).label("on_time"),
            or_(
                and_(done, c.stopped_at > c.deadline_at),
                and_(not_(done), c.deadline_at < _instant(period.as_of(now))),
            ).label("overdue"),
            SecondsBetween(c.started_at, c.stopped_at).label("seconds"),
        )
        .select_from(source)
        .where(
            or_(
                and_(c.deadline_at >= start, c.deadline_at < end),
                and_(c.stopped_at >= start, c.stopped_at < end),
            ),
            c.paused_at.is_(None),  # a suspended case's clock is neither late nor on time
            *filters,
        )
        .subquery("each")
    )
    x = each.c
    query = select(
        x.stage,
        x.role,
        x.actor,
        func.count(),
        _count(x.done),
        _count(x.on_time),
        _count(x.overdue),
        func.coalesce(func.sum(x.seconds).filter(x.done), 0.0),
    ).group_by(x.stage, x.role, x.actor)
    return {
        (stage, role, actor): StepCounts(due, done_, on_time, overdue, float(seconds))
        for stage, role, actor, due, done_, on_time, overdue, seconds in session.execute(query)
    }


STEP_COLUMNS = (
    "stage",
    "stage_name",
    "role",
    "actor",
    "due",
    "done",
    "on_time",
    "overdue",
    "on_time_rate",
    "overdue_rate",
    "average_hours",
)


def evaluate_steps(
    session: Session,
    *,
    period: Period,
    scope: Scope = Scope(),
    now: datetime,
    by_actor: bool = False,
    lang: str = "zh",
) -> list[dict[str, Any]]:
    """The evaluation per role as flat rows (:data:`STEP_COLUMNS`), in the loop's order: the
    API's and the dashboard's table alike."""
    order = list(Stage)
    found = count_steps(session, period=period, scope=scope, now=now, by_actor=by_actor)
    rows = []
    for (stage, role, actor), counts in sorted(
        found.items(), key=lambda kv: (order.index(Stage(kv[0][0])), kv[0][1], kv[0][2] or "")
    ):
        zh, en = STAGE_NAMES[Stage(stage)]
        rows.append(
            {
                "stage": stage,
                "stage_name": zh if lang == "zh" else en,
                "role": role,
                "actor": actor,
                **{name: getattr(counts, name) for name in ("due", "done", "on_time", "overdue")},
                **step_rates(counts),
            }
        )
    return rows


@dataclass(frozen=True)
class OpenNow:
    open: int = 0
    suspended: int = 0
    overdue: int = 0
    at_risk: int = 0


def open_now(
    session: Session,
    *,
    by: Dimension = Dimension.TOTAL,
    scope: Scope = Scope(),
    now: datetime,
    at_risk_share: float = 0.8,
) -> dict[str | None, OpenNow]:
    """Open cases per group at ``now``: all, suspended, overdue, and at risk of being so."""
    c = CASES
    filters = _case_filters(session, scope)
    moment = _instant(now)
    running = c.state.in_(sorted(OPEN_STATES - {S.SUSPENDED}))
    deadline = _clock_deadline()
    started = _stage_start()
    overdue = and_(running, deadline < moment)
    at_risk = and_(
        running,
        deadline >= moment,
        SecondsBetween(started, moment) >= SecondsBetween(started, deadline) * at_risk_share,
    )
    group = _case_group(by).label("key")
    query = (
        select(
            group,
            func.count().label("open"),
            _count(c.state == S.SUSPENDED).label("suspended"),
            _count(overdue).label("overdue"),
            _count(at_risk).label("at_risk"),
        )
        .where(c.state.in_(sorted(OPEN_STATES)), *filters)
        .group_by(group)
    )
    return {
        row["key"]: OpenNow(
            open=int(row["open"]),
            suspended=int(row["suspended"]),
            overdue=int(row["overdue"]),
            at_risk=int(row["at_risk"]),
        )
        for row in session.execute(query).mappings()
    }


@dataclass(frozen=True)
class QueueItem:
    """An open case in a work queue, with its clock."""

    id: int
    category_code: str
    state: str
    stage: str | None
    department_code: str | None
    area_codes: tuple[str | None, str | None, str | None, str | None]
    created_at: datetime
    deadline_at: datetime | None  # the current stage's
    case_deadline_at: datetime | None
    escalation_level: int
    clock: ClockStatus
    seconds_left: float | None


def work_queue(
    session: Session,
    *,
    scope: Scope = Scope(),
    now: datetime,
    at_risk_share: float = 0.8,
    limit: int = 200,
) -> list[QueueItem]:
    """A scope's open cases, overdue first, then at risk, then by time left (read-only).

    The clock shown is the one of the stage the case is in (filing, dispatch, handling, check).
    """
    c = CASES
    filters = _case_filters(session, scope)
    deadline = _clock_deadline().label("deadline")
    rows = session.execute(
        select(
            c.id,
            c.category_code,
            c.state,
            c.stage,
            c.department_code,
            c.l1_code,
            c.l2_code,
            c.l3_code,
            c.l4_code,
            c.created_at,
            _stage_start().label("started"),
            deadline,
            c.case_deadline_at,
            c.escalation_level,
        )
        .where(c.state.in_(sorted(OPEN_STATES)), *filters)
        # Nearest deadlines first: the overdue and at-risk cases are among them.
        .order_by(deadline.is_(None), deadline, c.id)
        .limit(limit)
    ).mappings()
    items = []
    for row in rows:
        deadline_at = row["deadline"]
        items.append(
            QueueItem(
                id=int(row["id"]),
                category_code=row["category_code"],
                state=row["state"],
                stage=row["stage"],
                department_code=row["department_code"],
                area_codes=(row["l1_code"], row["l2_code"], row["l3_code"], row["l4_code"]),
                created_at=row["created_at"],
                deadline_at=deadline_at,
                case_deadline_at=row["case_deadline_at"],
                escalation_level=int(row["escalation_level"]),
                clock=clock_status(
                    now=now,
                    started=row["started"],
                    deadline=deadline_at,
                    suspended=row["state"] == S.SUSPENDED,
                    at_risk_share=at_risk_share,
                ),
                seconds_left=(deadline_at - now).total_seconds() if deadline_at else None,
            )
        )
    return sorted(
        items,
        key=lambda i: (
            CLOCK_ORDER[i.clock],
            i.seconds_left if i.seconds_left is not None else float("inf"),
        ),
    )
