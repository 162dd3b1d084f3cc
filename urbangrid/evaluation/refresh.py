"""Keeping the evaluation's facts and rollups: a full build, and an exact incremental refresh.

The measures (``urbangrid.evaluation``) read three derived tables instead of the wide ``cases``
row (see ``urbangrid.core.tables.rollups``): a narrow row of day numbers and flags per case, the
counted events with their day, and sums per department, day and kind. Department heads read a
department's year from a few thousand rows instead of half a million cases.

Exactness, not freshness, is the promise. Triggers append every written case's id to
``metric_dirty_cases`` in the writer's own transaction; the refresher recomputes those cases'
facts, adds the difference to the rollups, and deletes exactly the dirty rows it saw, all in one
transaction. Readers replace the facts of cases still dirty by their live values in the same
statement, so a figure is the same as counting ``cases`` directly, whether the refresher ran a
second ago or an hour ago; the refresher only keeps that overlay small.

Refreshers never overlap: an advisory lock on PostgreSQL (with one repeatable-read snapshot
for the whole refresh, so the dirty rows deleted are exactly those folded in), and the write
lock, taken by the first statement, on SQLite.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    FromClause,
    MetaData,
    Select,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import ColumnElement

from urbangrid.core.columns import utcnow
from urbangrid.core.portable_sql import JsonNumber, LocalDay, SecondsBetween
from urbangrid.core.tables import (
    Case,
    CaseEvent,
    MetricCaseFacts,
    MetricClockFacts,
    MetricDirtyCase,
    MetricEventFacts,
    MetricRollup,
    MetricRollupState,
    MetricStepRollup,
    MetricSummary,
    MetricSummaryPeriod,
    SlaClock,
)
from urbangrid.domain.daynumbers import day_number
from urbangrid.domain.states import CaseState
from urbangrid.evaluation.days import NO_DAY, EventKind, Flag, RollupKind, summary_spans
from urbangrid.evaluation.facts import CASE_NAMES, FACT_DAYS, case_counts, event_counts

S = CaseState
CASE_TABLE = Case.__table__  # type: ignore[attr-defined]
EVENT_TABLE = CaseEvent.__table__  # type: ignore[attr-defined]
FACTS = MetricCaseFacts.__table__  # type: ignore[attr-defined]
EVENT_FACTS = MetricEventFacts.__table__  # type: ignore[attr-defined]
ROLLUPS = MetricRollup.__table__  # type: ignore[attr-defined]
DIRTY = MetricDirtyCase.__table__  # type: ignore[attr-defined]
STATE = MetricRollupState.__table__  # type: ignore[attr-defined]
SUMMARIES = MetricSummary.__table__  # type: ignore[attr-defined]
SUMMARY_PERIODS = MetricSummaryPeriod.__table__  # type: ignore[attr-defined]
CLOCKS = SlaClock.__table__  # type: ignore[attr-defined]
CLOCK_FACTS = MetricClockFacts.__table__  # type: ignore[attr-defined]
STEP_ROLLUPS = MetricStepRollup.__table__  # type: ignore[attr-defined]
STEP_KEY = ("department_code", "stage", "stopped_role", "stopped_by", "day1", "day2", "on_time")

COUNTED_OUT = (S.VOID, S.SUSPENDED)
HANDLING_STANDS = (S.HANDLED, S.CHECKED, S.CLOSED)
DISPATCH_ACTIONS = ("dispatch", "redispatch")
CODES = ("l1_code", "l2_code", "l3_code", "l4_code", "category_code")
ROLLUP_KEY = ("department_code", "kind", "day1", "day2", "flags", "score")
NO_SCORE = -1.0
# The summaries keep ratings of at least each whole score, for any configured threshold.
SATISFIED_SCORES = (1, 2, 3, 4, 5)
SUMMARY_SATISFIED = {f"satisfied_{score}": float(score) for score in SATISFIED_SCORES}
SUMMARY_EVENTS = ("dispatches", "returns", "ratings", *SUMMARY_SATISFIED)
SUMMARY_COUNTS = (*CASE_NAMES, *SUMMARY_EVENTS)
# The groupings kept in summaries, and the column of the facts and event facts each groups by
# (an event counts for the department that held the case then, as everywhere).
SUMMARY_GROUPINGS = {"cells": "l4_code", "departments": "department_code"}
SUMMARY_KEY = ["first_day", "end_day", "grouping", "key"]
# Any constant of our own: the advisory lock that keeps two refreshers apart on PostgreSQL.
LOCK_KEY = 5_420_260_005


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def _constant(value: float) -> ColumnElement[Any]:
    """A number written into the SQL, typed by the database like a column (a bound parameter
    in a UNION would come back as text on PostgreSQL)."""
    return literal_column(repr(value))


def _when(condition: ColumnElement[bool], value: Any) -> Any:
    return case((condition, value), else_=None)


def facts_select(tz: str, where: ColumnElement[bool]) -> Select[Any]:
    """Each case of ``where`` as the measures see it: a ``metric_case_facts`` row.

    The rules of ``urbangrid.evaluation`` (what is counted, due, closed, on time) applied
    once per case; a day is left NULL where the case cannot count, so readers need no state.
    """
    c = CASE_TABLE.c
    zone = literal(tz)

    def day(column: Any) -> ColumnElement[int]:
        return LocalDay(column, zone)

    counted = and_(c.filed_at.isnot(None), c.state.notin_(COUNTED_OUT))
    closure_deadline = func.coalesce(c.case_deadline_at, c.deadline_at)
    is_closed = and_(c.state == S.CLOSED, c.closed_at.isnot(None))
    stands = and_(c.state.in_(HANDLING_STANDS), c.handled_at.isnot(None))
    return select(
        c.id.label("case_id"),
        c.department_code,
        *(c[name] for name in CODES),
        day(c.created_at).label("created_day"),
        _when(counted, day(c.filed_at)).label("filed_day"),
        _flag(c.extension_count > 0).label("extended"),
        _when(counted, day(closure_deadline)).label("deadline_day"),
        _when(counted, closure_deadline).label("deadline_at"),
        _when(and_(counted, is_closed), day(c.closed_at)).label("closed_day"),
        _flag(and_(counted, is_closed, c.closed_at <= closure_deadline)).label("closed_on_time"),
        _flag(c.reopen_count > 0).label("reopened"),
        _when(counted, day(c.deadline_at)).label("handling_deadline_day"),
        _when(and_(counted, stands), day(c.handled_at)).label("handled_day"),
        _flag(and_(counted, stands, c.handled_at <= c.deadline_at)).label("handled_on_time"),
        _flag(c.rework_count > 0).label("reworked"),
        _when(
            and_(counted, stands, c.dispatched_at.isnot(None)),
            SecondsBetween(c.dispatched_at, c.handled_at),
        ).label("handling_seconds"),
    ).where(where)


def event_facts_select(tz: str, where: ColumnElement[bool]) -> Select[Any]:
    """The counted events of ``where``: dispatches, returns and scored ratings, with day, the
    department then holding the case, and the case's codes now (the measures group by them)."""
    e = EVENT_TABLE.c
    c = CASE_TABLE.c
    score = JsonNumber(e.detail, literal("score"))
    kind = case(
        (e.action.in_(DISPATCH_ACTIONS), int(EventKind.DISPATCH)),
        (e.action == "return", int(EventKind.RETURN)),
        else_=int(EventKind.RATING),
    )
    return (
        select(
            e.id.label("event_id"),
            e.case_id,
            kind.label("kind"),
            LocalDay(e.at, literal(tz)).label("day"),
            e.department_code,
            _when(e.action == "rate", score).label("score"),
            *(c[name] for name in CODES),
        )
        .select_from(EVENT_TABLE.join(CASE_TABLE, c.id == e.case_id))
        .where(
            or_(
                e.action.in_((*DISPATCH_ACTIONS, "return")),
                and_(e.action == "rate", score.isnot(None)),
            ),
            where,
        )
    )


def contributions(facts: FromClause, events: FromClause, sign: int) -> list[Select[Any]]:
    """What cases' facts and events add to ``metric_rollups`` (``sign`` -1 takes it away).

    One row per case and kind, in the rollups' columns; callers sum them by the rollup key.
    """
    f = facts.c
    ev = events.c
    department = func.coalesce(f.department_code, "")

    def day(column: Any) -> ColumnElement[int]:
        return func.coalesce(column, NO_DAY)

    def row(
        kind: RollupKind,
        day1: Any,
        day2: Any = None,
        flags: Any = None,
        seconds: Any = None,
    ) -> list[Any]:
        return [
            department.label("department_code"),
            _constant(int(kind)).label("kind"),
            day1.label("day1"),
            (_constant(NO_DAY) if day2 is None else day2).label("day2"),
            (_constant(0) if flags is None else flags).label("flags"),
            _constant(NO_SCORE).label("score"),
            _constant(sign).label("n"),
            (_constant(0.0) if seconds is None else seconds * sign).label("seconds"),
        ]

    closure_flags = f.closed_on_time * int(Flag.ON_TIME) + f.reopened * int(Flag.REOPENED)
    handling_flags = (
        f.handled_on_time * int(Flag.ON_TIME)
        + f.reworked * int(Flag.REWORKED)
        + _flag(f.handling_seconds.isnot(None)) * int(Flag.TIMED)
    )
    event_kind = case(
        (ev.kind == int(EventKind.DISPATCH), int(RollupKind.DISPATCH)),
        (ev.kind == int(EventKind.RETURN), int(RollupKind.RETURN)),
        else_=int(RollupKind.RATING),
    )
    return [
        select(*row(RollupKind.RECEIVED, f.created_day)).select_from(facts),
        select(*row(RollupKind.FILED, f.filed_day, flags=f.extended * int(Flag.EXTENDED))).where(
            f.filed_day.isnot(None)
        ),
        select(
            *row(RollupKind.CLOSURE, day(f.deadline_day), day(f.closed_day), closure_flags)
        ).where(or_(f.deadline_day.isnot(None), f.closed_day.isnot(None))),
        select(
            *row(
                RollupKind.HANDLING,
                day(f.handling_deadline_day),
                day(f.handled_day),
                handling_flags,
                seconds=func.coalesce(f.handling_seconds, 0.0),
            )
        ).where(or_(f.handling_deadline_day.isnot(None), f.handled_day.isnot(None))),
        select(
            func.coalesce(ev.department_code, "").label("department_code"),
            event_kind.label("kind"),
            ev.day.label("day1"),
            _constant(NO_DAY).label("day2"),
            _constant(0).label("flags"),
            func.coalesce(ev.score, _constant(NO_SCORE)).label("score"),
            _constant(sign).label("n"),
            _constant(0.0).label("seconds"),
        ).select_from(events),
    ]


def summed(rows: Sequence[Select[Any]], key_names: Sequence[str] = ROLLUP_KEY) -> Select[Any]:
    """Contribution rows summed by a rollup's key, leaving out sums that change nothing."""
    every = (rows[0] if len(rows) == 1 else union_all(*rows)).subquery("contributions")
    key = [every.c[name] for name in key_names]
    n = func.sum(every.c.n)
    seconds = func.sum(every.c.seconds)
    return (
        select(*key, n.label("n"), seconds.label("seconds"))
        # SQLite reads "INSERT ... SELECT ... ON CONFLICT" only when the SELECT has a WHERE.
        .where(literal_column("1") == 1)
        .group_by(*key)
        .having(or_(n != 0, seconds != 0))
    )


def dirty_cases() -> Select[Any]:
    return select(DIRTY.c.case_id)


# ---------------------------------------------------------------------------------------------
# Refreshing


@dataclass(frozen=True)
class Refreshed:
    """What a refresh did: a full build or an incremental one, how many cases, how long."""

    full: bool
    cases: int
    seconds: float


@contextmanager
def _exclusive(engine: Engine) -> Iterator[Connection]:
    """One refresher at a time, seeing one consistent state of the cases for all it does."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
            conn.commit()
            try:
                conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    conn.execute(text("SET LOCAL jit = off"))
                    _claim_state(conn)
                    yield conn
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
                conn.commit()
    else:
        with engine.begin() as conn:
            # A write first: SQLite's write lock, held to the commit, keeps out other writers,
            # so everything read below is one state of the cases.
            _claim_state(conn)
            yield conn


def _claim_state(conn: Connection) -> None:
    conn.execute(
        insert(STATE).from_select(
            ["id"],
            select(literal(1)).where(~select(STATE.c.id).where(STATE.c.id == 1).exists()),
        )
    )
    conn.execute(update(STATE).where(STATE.c.id == 1).values(id=1))


def built_timezone(conn: Connection | Any) -> str | None:
    """The time zone the facts were built in, or None when they have never been built."""
    row = conn.execute(select(STATE.c.timezone, STATE.c.built_at).where(STATE.c.id == 1)).first()
    if row is None or row.built_at is None:
        return None
    return str(row.timezone)


def refresh(
    engine: Engine, *, tz: str, full: bool = False, now: datetime | None = None
) -> Refreshed:
    """Fold the cases written since the last refresh into the facts and rollups.

    A full build when asked, when never built, or when built in another time zone (after a
    bulk load, say); otherwise only the dirty cases, so re-running changes nothing.
    """
    started = time.perf_counter()
    today = day_number(now or utcnow(), ZoneInfo(tz))
    with _exclusive(engine) as conn:
        if full or built_timezone(conn) != tz:
            count = _rebuild(conn, tz)
            full = True
        else:
            count = _fold_dirty(conn, tz)
        _keep_summaries(conn, today)
        conn.execute(
            update(STATE)
            .where(STATE.c.id == 1)
            .values(refreshed_at=now or utcnow(), **({"built_at": now or utcnow()} if full else {}))
        )
    if full and engine.dialect.name == "postgresql":
        # The rows a build replaced stay in the indexes until vacuumed, and every read of a
        # period would visit their pages too.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in (
                FACTS,
                EVENT_FACTS,
                ROLLUPS,
                DIRTY,
                SUMMARIES,
                SUMMARY_PERIODS,
                CLOCK_FACTS,
                STEP_ROLLUPS,
            ):
                conn.execute(text(f"VACUUM (ANALYZE) {table.name}"))
    return Refreshed(full=full, cases=count, seconds=time.perf_counter() - started)


def _rebuild(conn: Connection, tz: str) -> int:
    # DELETE, not TRUNCATE: dashboards keep reading the old figures until this commits, and
    # dirty rows written after this refresh's snapshot stay for the next one.
    for table in (
        SUMMARIES,
        SUMMARY_PERIODS,
        STEP_ROLLUPS,
        CLOCK_FACTS,
        ROLLUPS,
        EVENT_FACTS,
        FACTS,
        DIRTY,
    ):
        conn.execute(delete(table))
    facts_columns = [column.name for column in FACTS.columns]
    conn.execute(
        insert(FACTS).from_select(facts_columns, facts_select(tz, literal_column("1") == 1))
    )
    events_columns = [column.name for column in EVENT_FACTS.columns]
    conn.execute(
        insert(EVENT_FACTS).from_select(
            events_columns, event_facts_select(tz, literal_column("1") == 1)
        )
    )
    # In day order: a period's rows then sit together on disk, and a week's trend reads a few
    # hundred pages instead of one page per row.
    conn.execute(
        insert(ROLLUPS).from_select(
            [*ROLLUP_KEY, "n", "seconds"],
            summed(contributions(FACTS, EVENT_FACTS, 1)).order_by(literal_column("day1")),
        )
    )
    conn.execute(
        insert(CLOCK_FACTS).from_select(
            [column.name for column in CLOCK_FACTS.columns],
            clock_facts_select(tz, literal_column("1") == 1),
        )
    )
    conn.execute(
        insert(STEP_ROLLUPS).from_select(
            [*STEP_KEY, "n", "seconds"],
            summed([step_contributions(CLOCK_FACTS, 1)], STEP_KEY).order_by(literal_column("day1")),
        )
    )
    conn.execute(update(STATE).where(STATE.c.id == 1).values(timezone=tz))
    return int(conn.execute(select(func.count()).select_from(FACTS)).scalar_one())


def _insert(conn: Connection, table: Any) -> Any:
    """An INSERT that can say ON CONFLICT, in the connection's dialect."""
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


def _upsert(
    conn: Connection,
    table: Any,
    key: Sequence[str],
    rows: Select[Any],
    names: Sequence[str] = ("n", "seconds"),
) -> None:
    """Add summed rows to a rollup's rows of the same key, or insert them."""
    statement = _insert(conn, table).from_select([*key, *names], rows)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=list(key),
            set_={name: table.c[name] + statement.excluded[name] for name in names},
        )
    )


@dataclass(frozen=True)
class DirtySources:
    """The cases written since the last refresh: their facts and counted events as they are
    now (worked out live from the cases) and as the refresher last kept them."""

    new_facts: Any
    old_facts: Any
    new_events: Any
    old_events: Any


def dirty_sources(tz: str) -> DirtySources:
    dirty = dirty_cases()
    return DirtySources(
        new_facts=facts_select(tz, CASE_TABLE.c.id.in_(dirty)).subquery("new_facts"),
        old_facts=select(FACTS).where(FACTS.c.case_id.in_(dirty)).subquery("old_facts"),
        new_events=event_facts_select(tz, EVENT_TABLE.c.case_id.in_(dirty)).subquery("new_events"),
        old_events=select(EVENT_FACTS)
        .where(EVENT_FACTS.c.case_id.in_(dirty))
        .subquery("old_events"),
    )


def _fold_dirty(conn: Connection, tz: str) -> int:
    dirty = dirty_cases()
    count = int(conn.execute(select(func.count(func.distinct(DIRTY.c.case_id)))).scalar_one())
    if not count:
        return 0
    sources = dirty_sources(tz)
    _upsert(
        conn,
        ROLLUPS,
        ROLLUP_KEY,
        summed(
            [
                *contributions(sources.new_facts, sources.new_events, 1),
                *contributions(sources.old_facts, sources.old_events, -1),
            ]
        ),
    )
    # Sums back at zero are rows of nothing: gone, so the rollups stay as small as the data.
    conn.execute(delete(ROLLUPS).where(ROLLUPS.c.n == 0))
    _fold_steps(conn, tz)
    # The summaries take the dirty cases' kept facts out now and put them back in once they
    # are replaced below: the new facts are worked out once, by that replacement.
    changes: _SummaryChanges = {}
    touched = _summary_changes(conn, -1, changes)
    conn.execute(delete(FACTS).where(FACTS.c.case_id.in_(dirty)))
    conn.execute(
        insert(FACTS).from_select(
            [column.name for column in FACTS.columns], facts_select(tz, CASE_TABLE.c.id.in_(dirty))
        )
    )
    conn.execute(delete(EVENT_FACTS).where(EVENT_FACTS.c.case_id.in_(dirty)))
    conn.execute(
        insert(EVENT_FACTS).from_select(
            [column.name for column in EVENT_FACTS.columns],
            event_facts_select(tz, EVENT_TABLE.c.case_id.in_(dirty)),
        )
    )
    touched |= _summary_changes(conn, 1, changes)
    _apply_summary_changes(conn, changes, touched)
    # Exactly the rows this snapshot saw: a case written meanwhile stays dirty for next time.
    conn.execute(delete(DIRTY))
    return count


# ---------------------------------------------------------------------------------------------
# Summaries per base cell and per department of the periods the centre reports by


def _grouped(source: FromClause, grouping: str) -> ColumnElement[str]:
    return func.coalesce(source.c[SUMMARY_GROUPINGS[grouping]], "")


def _build_summary(conn: Connection, span: tuple[int, int]) -> None:
    """Every group's counts of one period, from the facts as they stand, and its entry."""
    first: ColumnElement[int] = literal_column(str(int(span[0])))  # typed like the columns
    end: ColumnElement[int] = literal_column(str(int(span[1])))
    for grouping in SUMMARY_GROUPINGS:
        cases = case_counts(FACTS, span, key=_grouped(FACTS, grouping), passed=None).subquery()
        conn.execute(
            insert(SUMMARIES).from_select(
                [*SUMMARY_KEY, *SUMMARY_COUNTS],
                select(
                    first,
                    end,
                    literal(grouping),
                    cases.c.key,
                    *(cases.c[name] for name in CASE_NAMES),
                    *(literal_column("0") for _ in SUMMARY_EVENTS),
                ),
            )
        )
        events = event_counts(
            EVENT_FACTS,
            span,
            key=_grouped(EVENT_FACTS, grouping),
            satisfied=SUMMARY_SATISFIED,
        ).subquery()
        statement = _insert(conn, SUMMARIES).from_select(
            [*SUMMARY_KEY, *SUMMARY_EVENTS],
            select(first, end, literal(grouping), *events.c)
            # SQLite reads "INSERT ... SELECT ... ON CONFLICT" only when the SELECT has a WHERE.
            .where(literal_column("1") == 1),
        )
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=SUMMARY_KEY,
                set_={name: statement.excluded[name] for name in SUMMARY_EVENTS},
            )
        )
    conn.execute(insert(SUMMARY_PERIODS).values(first_day=span[0], end_day=span[1]))


def _keep_summaries(conn: Connection, today: int) -> None:
    """Summaries for every month, quarter and year from the first case to today, and for the
    rolling windows ending today; those of earlier days' windows go."""
    oldest, newest = conn.execute(
        select(func.min(FACTS.c.created_day), func.max(FACTS.c.created_day))
    ).one()
    wanted = set() if oldest is None else set(summary_spans(oldest, max(newest, today), today))
    kept = {(int(a), int(b)) for a, b in conn.execute(select(*SUMMARY_PERIODS.c))}
    for first, end in sorted(kept - wanted):
        conn.execute(
            delete(SUMMARIES).where(SUMMARIES.c.first_day == first, SUMMARIES.c.end_day == end)
        )
        conn.execute(
            delete(SUMMARY_PERIODS).where(
                SUMMARY_PERIODS.c.first_day == first, SUMMARY_PERIODS.c.end_day == end
            )
        )
    for span in sorted(wanted - kept):
        _build_summary(conn, span)


_SummaryChanges = dict[tuple[tuple[int, int], str, str], list[Any]]


def _summary_changes(conn: Connection, sign: int, changes: _SummaryChanges) -> set[tuple[int, int]]:
    """Add ``sign`` times what the dirty cases' kept facts count, per kept period they touch
    and per group, to ``changes``; the periods touched.

    Called before the facts of the dirty cases are replaced (-1) and after (+1): the exact
    difference the rollups get, without working out the new facts again for every period.
    """
    with _dirty_copy(conn, FACTS) as facts, _dirty_copy(conn, EVENT_FACTS) as events:
        return _count_changes(conn, facts, events, sign, changes)


@contextmanager
def _dirty_copy(conn: Connection, table: Any) -> Iterator[Table]:
    """The dirty cases' rows of a facts table, copied once into a temporary table.

    Every period and grouping is counted from these few rows; read through ``IN (dirty)``
    each time, the planner would take a period's facts by their day index first and keep the
    dirty ones after, tens of thousands of rows for a few hundred, once per query.
    """
    copy = Table(
        f"dirty_{table.name}",
        MetaData(),
        *(Column(column.name, column.type) for column in table.columns),
        prefixes=["TEMPORARY"],
    )
    copy.create(conn)
    try:
        conn.execute(
            insert(copy).from_select(
                [column.name for column in table.columns],
                select(table).where(table.c.case_id.in_(dirty_cases())),
            )
        )
        yield copy
    finally:
        copy.drop(conn)


def _count_changes(
    conn: Connection, facts: Table, events: Table, sign: int, changes: _SummaryChanges
) -> set[tuple[int, int]]:
    # Only the periods one of these cases' days falls in can change.
    days: set[int] = set()
    for row in conn.execute(select(*(facts.c[name] for name in FACT_DAYS))):
        days.update(day for day in row if day is not None)
    days.update(conn.execute(select(events.c.day)).scalars())
    kept = [(int(a), int(b)) for a, b in conn.execute(select(*SUMMARY_PERIODS.c))]
    touched = {span for span in kept if any(span[0] <= day < span[1] for day in days)}
    width = len(SUMMARY_COUNTS)
    for span in touched:
        for grouping in SUMMARY_GROUPINGS:
            counted = (
                (case_counts(facts, span, key=_grouped(facts, grouping), passed=None), 0),
                (
                    event_counts(
                        events, span, key=_grouped(events, grouping), satisfied=SUMMARY_SATISFIED
                    ),
                    len(CASE_NAMES),
                ),
            )
            for query, offset in counted:
                for key, *values in conn.execute(query):
                    slots = changes.setdefault((span, grouping, key), [0] * width)
                    for index, value in enumerate(values, offset):
                        slots[index] += sign * value
    return touched


def _apply_summary_changes(
    conn: Connection, changes: _SummaryChanges, touched: set[tuple[int, int]]
) -> None:
    rows = [
        {"first_day": span[0], "end_day": span[1], "grouping": grouping, "key": key}
        | dict(zip(SUMMARY_COUNTS, values, strict=True))
        for (span, grouping, key), values in changes.items()
        if any(values)
    ]
    if rows:
        statement = _insert(conn, SUMMARIES)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=SUMMARY_KEY,
                set_={
                    name: SUMMARIES.c[name] + statement.excluded[name] for name in SUMMARY_COUNTS
                },
            ),
            rows,
        )
    for first, end in touched:
        # A group left with nothing to count is a row of nothing, as a full build has none.
        conn.execute(
            delete(SUMMARIES).where(
                SUMMARIES.c.first_day == first,
                SUMMARIES.c.end_day == end,
                *(SUMMARIES.c[name] == 0 for name in SUMMARY_COUNTS if name != "handling_seconds"),
            )
        )


# ---------------------------------------------------------------------------------------------
# Stage clocks, for the evaluation per role


def clock_facts_select(tz: str, where: ColumnElement[bool]) -> Select[Any]:
    """The stage clocks of ``where`` as the evaluation per role sees them: a paused clock (its
    case suspended) is neither late nor on time, so it has no row."""
    k = CLOCKS.c
    c = CASE_TABLE.c
    zone = literal(tz)
    return (
        select(
            k.id.label("clock_id"),
            k.case_id,
            c.department_code,
            k.stage,
            k.stopped_role,
            k.stopped_by,
            LocalDay(k.deadline_at, zone).label("deadline_day"),
            _when(k.stopped_at.isnot(None), LocalDay(k.stopped_at, zone)).label("stopped_day"),
            _flag(k.stopped_at <= k.deadline_at).label("on_time"),
            SecondsBetween(k.started_at, k.stopped_at).label("seconds"),
        )
        .select_from(CLOCKS.join(CASE_TABLE, c.id == k.case_id))
        .where(k.paused_at.is_(None), where)
    )


def step_contributions(facts: FromClause, sign: int) -> Select[Any]:
    """What clock facts add to ``metric_step_rollups`` (``sign`` -1 takes it away), one row
    per clock in the rollups' columns."""
    f = facts.c
    return select(
        func.coalesce(f.department_code, "").label("department_code"),
        f.stage,
        func.coalesce(f.stopped_role, "").label("stopped_role"),
        func.coalesce(f.stopped_by, "").label("stopped_by"),
        f.deadline_day.label("day1"),
        func.coalesce(f.stopped_day, NO_DAY).label("day2"),
        f.on_time,
        _constant(sign).label("n"),
        (func.coalesce(f.seconds, 0.0) * sign).label("seconds"),
    ).select_from(facts)


def _fold_steps(conn: Connection, tz: str) -> None:
    """The dirty cases' clocks into the step rollups and clock facts."""
    dirty = dirty_cases()
    new = clock_facts_select(tz, CLOCKS.c.case_id.in_(dirty)).subquery("new_clocks")
    old = select(CLOCK_FACTS).where(CLOCK_FACTS.c.case_id.in_(dirty)).subquery("old_clocks")
    _upsert(
        conn,
        STEP_ROLLUPS,
        STEP_KEY,
        summed([step_contributions(new, 1), step_contributions(old, -1)], STEP_KEY),
    )
    conn.execute(delete(STEP_ROLLUPS).where(STEP_ROLLUPS.c.n == 0))
    conn.execute(delete(CLOCK_FACTS).where(CLOCK_FACTS.c.case_id.in_(dirty)))
    conn.execute(
        insert(CLOCK_FACTS).from_select(
            [column.name for column in CLOCK_FACTS.columns],
            clock_facts_select(tz, CLOCKS.c.case_id.in_(dirty)),
        )
    )
