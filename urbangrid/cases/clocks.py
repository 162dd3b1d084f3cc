"""A case's SLA clocks in the database, moved by the same step that records an action.

``lifecycle.record`` calls :func:`apply_plan` inside its transaction, so a case's clocks and
the columns mirrored on it (stage, stage deadline, handling deadline, whole-case deadline)
always agree with its state. The arithmetic is :mod:`urbangrid.domain.sla`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, and_, or_, update
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from urbangrid.core.tables import Case, CaseEvent, Category, SlaClock
from urbangrid.domain import sla
from urbangrid.domain.sla import Clock, ClockRules, Stage, stopping_actions
from urbangrid.domain.timelimits import Limits, format_limits, parse_limits


def category_limits(category: Category) -> dict[Stage, Limits]:
    """Each stage's limit for ``category``, and the whole case's (by default the four chained).

    >>> row = Category(code="E0102", name_zh="", name_en="", family="event", major="01",
    ...                minor="02", department_kind="sanitation", time_limit="4wh")
    >>> format_limits(category_limits(row)[Stage.CASE])
    '1wh+1wh+4wh+1wd'
    """
    stages = {
        Stage.FILE: parse_limits(category.file_limit),
        Stage.DISPATCH: parse_limits(category.dispatch_limit),
        Stage.HANDLE: parse_limits(category.time_limit),
        Stage.CHECK: parse_limits(category.check_limit),
    }
    whole = (
        parse_limits(category.case_limit)
        if category.case_limit
        else stages[Stage.FILE]
        + stages[Stage.DISPATCH]
        + stages[Stage.HANDLE]
        + stages[Stage.CHECK]
    )
    return {**stages, Stage.CASE: whole}


@dataclass
class ClockRow:
    """A clock row in memory without the ORM's bookkeeping, for moving many cases' clocks at
    once (the router of a batch): the same columns as :class:`SlaClock`, ten times cheaper."""

    case_id: int
    stage: str
    started_at: datetime
    limit: str
    deadline_at: datetime
    warn_at: datetime
    extended: str = ""
    paused_s: float = 0.0
    paused_at: datetime | None = None
    stopped_at: datetime | None = None
    stopped_by: str | None = None
    stopped_role: str | None = None
    step: int = 0
    next_at: datetime | None = None
    leased_until: datetime | None = None


Row = TypeVar("Row", SlaClock, ClockRow)


def to_clock(row: SlaClock | ClockRow) -> Clock:
    return Clock(
        stage=Stage(row.stage),
        started_at=row.started_at,
        limit=parse_limits(row.limit),
        extended=parse_limits(row.extended) if row.extended else (),
        paused_s=row.paused_s,
        paused_at=row.paused_at,
        stopped_at=row.stopped_at,
        step=row.step,
    )


def write_clock(row: Row, clock: Clock, rules: ClockRules) -> Row:
    """Store ``clock`` in ``row`` with its deadline, warning time and next sweep time."""
    row.stage = clock.stage
    row.started_at = clock.started_at
    row.limit = format_limits(clock.limit)
    row.extended = format_limits(clock.extended)
    row.paused_s = clock.paused_s
    row.paused_at = clock.paused_at
    row.stopped_at = clock.stopped_at
    row.step = clock.step
    row.deadline_at = sla.deadline(clock, rules)
    row.warn_at = sla.warn_at(clock, rules)
    row.next_at = sla.next_due(clock, rules)
    row.leased_until = None
    return row


def case_clocks(session: Session, case_id: int) -> list[SlaClock]:
    return list(
        session.exec(select(SlaClock).where(SlaClock.case_id == case_id).order_by(col(SlaClock.id)))
    )


def apply_plan(
    session: Session,
    case: Case,
    action: str,
    *,
    at: datetime,
    rules: ClockRules,
    detail: dict[str, Any],
    by: tuple[str, str] | None = None,
) -> None:
    """Move ``case``'s clocks as ``action`` requires (``sla.CLOCK_PLAN``) and mirror them.

    A case stored by intake has no clocks yet: they start at its report time the first time
    any step is recorded, so every path through the loop gets the same clocks. ``by`` (actor,
    role) took the step: a clock it stops is credited to them.
    """
    assert case.id is not None
    rows = case_clocks(session, case.id)
    if not rows and action != "submit":
        ensure_started(session, case, rules=rules)
        rows = case_clocks(session, case.id)
    if not sla.CLOCK_PLAN.get(action, ()):
        return
    category = session.get(Category, case.category_code)
    if category is None:
        raise LookupError(f"case {case.id}: category {case.category_code} does not exist")
    latest, added = move_clocks(
        rows,
        action,
        case_id=case.id,
        at=at,
        rules=rules,
        limits=category_limits(category),
        detail=detail,
        by=by,
        new_row=SlaClock,
    )
    session.add_all(added)
    session.flush()
    mirror(session, case.id, latest)


def move_clocks(
    rows: Sequence[Row],
    action: str,
    *,
    case_id: int,
    at: datetime,
    rules: ClockRules,
    limits: dict[Stage, Limits],
    detail: dict[str, Any],
    new_row: Callable[..., Row],
    by: tuple[str, str] | None = None,
) -> tuple[list[Row], list[Row]]:
    """The clock rows after ``action``, in memory: (the latest row of each stage, rows added).

    ``rows`` are the case's clocks in id order; they are changed in place. No session: the
    router of a batch moves the clocks of many cases with this and writes them all at once, so
    a case routed in a batch gets exactly the clocks it would get alone.
    """
    steps = sla.CLOCK_PLAN.get(action, ())
    latest: dict[Stage, Row] = {Stage(row.stage): row for row in rows}
    added: list[Row] = []
    if not steps:
        return list(latest.values()), added
    running = {id(row) for row in rows if row.stopped_at is None}
    for op, stage in steps:
        targets = _targets(latest, stage)
        if op == "start":
            assert stage is not None
            previous = latest.get(stage)
            if previous is not None and previous.stopped_at is None:
                write_clock(previous, sla.stop(to_clock(previous), at), rules)
            # Placeholders only: write_clock fills every column from the clock.
            row = new_row(
                case_id=case_id,
                stage=stage,
                started_at=at,
                limit="",
                deadline_at=at,
                warn_at=at,
            )
            latest[stage] = write_clock(row, sla.start(stage, at, limits[stage]), rules)
            added.append(row)
        elif op == "reopen":
            assert stage is not None
            row_or_none = latest.get(stage)
            if row_or_none is not None:
                write_clock(row_or_none, sla.reopen(to_clock(row_or_none)), rules)
        else:
            for row in targets:
                clock = to_clock(row)
                if op == "stop":
                    clock = sla.stop(clock, at)
                elif op == "pause":
                    clock = sla.pause(clock, at)
                elif op == "resume":
                    clock = sla.resume(clock, at, rules)
                elif op == "extend":
                    clock = sla.extend(clock, parse_limits(str(detail["by"])), at, rules)
                elif op == "relimit":
                    if clock.stage == Stage.HANDLE and detail.get("reroute_to"):
                        continue  # this department's clock stops under its own limit
                    clock = sla.relimit(clock, limits[clock.stage], at, rules)
                write_clock(row, clock, rules)
    for row in rows:
        if row.stopped_at is None:
            row.stopped_by = row.stopped_role = None  # running again (reopened after a fail)
        elif id(row) in running and by is not None:
            row.stopped_by, row.stopped_role = by
    if detail.get("previous_category") and action != "recategorize":
        # Filed under another class: the whole case is held to the new class's limit.
        whole = latest.get(Stage.CASE)
        if whole is not None and whole.stopped_at is None:
            write_clock(whole, sla.relimit(to_clock(whole), limits[Stage.CASE], at, rules), rules)
    return list(latest.values()), added


def ensure_started(session: Session, case: Case, *, rules: ClockRules) -> None:
    """Start the whole-case and filing clocks at the report time, unless they run already."""
    assert case.id is not None
    if session.exec(select(SlaClock.id).where(SlaClock.case_id == case.id).limit(1)).first():
        return
    apply_plan(session, case, "submit", at=case.created_at, rules=rules, detail={})


def _targets(latest: dict[Stage, Row], stage: Stage | None) -> Sequence[Row]:
    rows = list(latest.values()) if stage is None else [latest[stage]] if stage in latest else []
    return [row for row in rows if row.stopped_at is None]


def mirror(session: Session, case_id: int, latest: Sequence[SlaClock]) -> None:
    """Copy the clocks' deadlines onto the case's indexed columns."""
    session.execute(
        update(Case)
        .where(col(Case.id) == case_id)
        .values(**mirrored(latest))
        .execution_options(synchronize_session=False)
    )


def mirrored(latest: Sequence[SlaClock] | Sequence[ClockRow]) -> dict[str, Any]:
    """The case's columns that mirror its clocks: current stage and the three deadlines."""
    by_stage = {Stage(row.stage): row for row in latest}
    current = next(
        (row for row in latest if row.stage != Stage.CASE and row.stopped_at is None), None
    )
    handle = by_stage.get(Stage.HANDLE)
    whole = by_stage.get(Stage.CASE)
    return {
        "stage": current.stage if current else None,
        "stage_deadline_at": current.deadline_at if current else None,
        "deadline_at": handle.deadline_at if handle else None,
        "case_deadline_at": whole.deadline_at if whole else None,
    }


def credit_stops(connection: Connection, *, cases: tuple[int, int] | None = None) -> None:
    """Name who stopped each stopped clock that names nobody: the latest event of the same case
    at the same instant whose action stops that stage.

    For clocks written without the workflow's steps (synthetic history) and those stopped
    before the clocks recorded it; ``cases`` limits it to a range of case ids.
    """
    clock = SlaClock.__table__.c  # type: ignore[attr-defined]
    event = CaseEvent.__table__.alias("stopping")  # type: ignore[attr-defined]
    e = event.c
    stops = or_(
        *(
            and_(clock.stage == stage.value, e.action.in_(sorted(stopping_actions(stage))))
            for stage in Stage
        )
    )

    def stopper(column: Any) -> Any:
        return (
            core_select(column)
            .where(e.case_id == clock.case_id, e.at == clock.stopped_at, stops)
            .order_by(e.id.desc())
            .limit(1)
            .scalar_subquery()
        )

    statement = (
        update(SlaClock.__table__)  # type: ignore[attr-defined]
        .where(clock.stopped_at.isnot(None), clock.stopped_by.is_(None))
        .values(stopped_by=stopper(e.actor), stopped_role=stopper(e.role))
    )
    if cases is not None:
        statement = statement.where(clock.case_id.between(*cases))
    connection.execute(statement)
