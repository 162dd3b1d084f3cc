"""What a case contributes to the evaluation, as SQL: its facts (day numbers and flags), its
counted events, their sums per rollup key, and its stage clocks' facts. The full build and the
incremental refresh select from here, and so do the readers that take dirty cases live.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    FromClause,
    Select,
    and_,
    case,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import ColumnElement

from urbangrid.core.portable_sql import JsonNumber, LocalDay, SecondsBetween
from urbangrid.evaluation.days import NO_DAY, EventKind, Flag, RollupKind
from urbangrid.evaluation.rollup_tables import (
    CLOCKS,
    CODES,
    DIRTY,
    EVENT_FACTS,
    FACTS,
    NO_SCORE,
    ROLLUP_KEY,
)
from urbangrid.evaluation.scope import (
    CASE_TABLE,
    COUNTED_OUT,
    DISPATCH_ACTIONS,
    EVENT_TABLE,
    HANDLING_STANDS,
    S,
)


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
