"""The evaluation per role in SQL: each step of the loop against its stage clock.

:func:`count_steps` reads the clock rollups the refresher keeps, judging today's deadlines to the
minute from ``sla_clock``; :func:`count_steps_live` counts the same from ``sla_clock`` directly,
the reference it is tested against, and the path for filters by area or category.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    String,
    and_,
    case,
    func,
    literal,
    not_,
    or_,
    select,
    union_all,
)
from sqlmodel import Session

from urbangrid.core.portable_sql import SecondsBetween
from urbangrid.domain.daynumbers import day_start
from urbangrid.domain.workflow import Role
from urbangrid.evaluation.contributions import clock_facts_select, dirty_cases, step_contributions
from urbangrid.evaluation.days import NO_DAY
from urbangrid.evaluation.facts import count_of as _count
from urbangrid.evaluation.facts import days_within as _days_within
from urbangrid.evaluation.facts import instant as _instant
from urbangrid.evaluation.formulas import Period
from urbangrid.evaluation.roles import STAGE_OWNER, StepCounts
from urbangrid.evaluation.rollup_tables import CLOCK_FACTS, STEP_KEY, STEP_ROLLUPS
from urbangrid.evaluation.scope import CASE_TABLE, CASES, SLA, Scope, _case_filters
from urbangrid.evaluation.sources import _Reading, whole_days_reading
from urbangrid.evaluation.tuning import planner_for_metrics

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

    Read from the refresher's per-day step rollups (``urbangrid.evaluation``), unfiltered or
    filtered by department, with the cases written since the last refresh taken live; the same
    figures as :func:`count_steps_live`, which counts filters by area or category, periods not
    made of whole days, and everything before the rollups are first built.
    """
    reading = None if scope.area or scope.category else whole_days_reading(session, period, now)
    if reading is None:
        return count_steps_live(session, period=period, scope=scope, now=now, by_actor=by_actor)
    planner_for_metrics(session)
    filters = _case_filters(session, scope)  # names an unknown department
    source = _step_source(reading)
    r = source.c
    days = reading.days
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

    The rules are :mod:`urbangrid.evaluation.roles`'; each stopped clock names who stopped it
    (``sla_clock.stopped_by``, kept by ``urbangrid.cases.clocks``).
    """
    planner_for_metrics(session)
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
