"""The SLA sweep: due clocks found with one indexed query, their marks fired once.

Deadlines live in the database (``sla_clock.next_at``), never in delayed broker messages: a
worker holding thousands of countdown tasks slows every other task and loses them to RabbitMQ's
consumer timeout. The scheduler runs :func:`claim_due` every ``sla_sweep_interval_s``; it leases
the due clocks and hands each case to :func:`advance_case` in a task. Advancing is guarded on the
clock's step, so two sweeps, a redelivered task or two workers on the same case fire each
warning, overdue mark and escalation exactly once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, text, update
from sqlmodel import Session, col, select

from urbangrid.cases.casework import Policy, escalation_code
from urbangrid.cases.clocks import to_clock
from urbangrid.cases.lifecycle import record
from urbangrid.core.bulk import insert_rows
from urbangrid.core.tables import Case, CaseEvent, SlaClock
from urbangrid.domain import sla
from urbangrid.domain.states import CaseState
from urbangrid.domain.workflow import IllegalAction, Role, apply

log = logging.getLogger(__name__)

SLA_ACTOR = "system:sla"


def claim_due(session: Session, *, now: datetime, lease_s: float, batch: int) -> list[int]:
    """Lease up to ``batch`` clocks whose next mark is due and return their cases' ids.

    One statement: a range scan of ``ix_sla_clock_next_at`` that sets the lease and returns the
    cases. On PostgreSQL rows another sweep is leasing are skipped (``SKIP LOCKED``); on SQLite
    the statement takes the write lock before it reads. A lease expires by itself, so a task
    lost on the way is handed out again by a later sweep.
    """
    due = (
        select(SlaClock.id)
        .where(col(SlaClock.next_at) <= now)
        .where(or_(col(SlaClock.leased_until).is_(None), col(SlaClock.leased_until) < now))
        .order_by(col(SlaClock.next_at))
        .limit(batch)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    rows = session.execute(
        update(SlaClock)
        .where(col(SlaClock.id).in_(due.scalar_subquery()))
        .values(leased_until=now + timedelta(seconds=lease_s))
        .returning(col(SlaClock.case_id))
        .execution_options(synchronize_session=False)
    ).all()
    session.commit()
    return sorted({int(row[0]) for row in rows})


def advance_case(session: Session, case_id: int, *, now: datetime, policy: Policy) -> list[str]:
    """Fire every mark of ``case_id``'s clocks due by ``now``; returns what was recorded.

    Each clock's step moves with a guarded UPDATE (``step`` still what was read): if another
    task fired the same marks first, this one changes nothing and records nothing.
    """
    rules = policy.rules
    case = session.get(Case, case_id)
    if case is None:
        return []
    rows = list(
        session.exec(
            select(SlaClock)
            .where(SlaClock.case_id == case_id)
            .where(col(SlaClock.next_at) <= now)
            .order_by(col(SlaClock.id))
        )
    )
    pending: list[tuple[SlaClock, sla.Mark]] = []
    for row, marks, done in _due(rows, now, rules):
        moved = session.execute(
            update(SlaClock)
            .where(col(SlaClock.id) == row.id)
            .where(col(SlaClock.step) == row.step)
            .where(col(SlaClock.deadline_at) == row.deadline_at)
            .where(col(SlaClock.stopped_at).is_(None))
            .where(col(SlaClock.paused_at).is_(None))
            .values(step=done.step, next_at=sla.next_due(done, rules), leased_until=None)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            return []
        pending += [(row, mark) for mark in marks]
    pending.sort(key=lambda item: item[1].due_at)
    fired: list[str] = []
    for entry in _entries(case, pending, lambda: case.escalation_level, policy=policy):
        escalation: dict[str, Any] = {}
        if entry.level is not None:
            escalation = {
                "values": {"escalated_to": entry.escalated_to},
                "guards": [col(Case.escalation_level) == case.escalation_level],
                "rules": rules,
            }
        record(
            session,
            case,
            entry.action,
            actor=SLA_ACTOR,
            role=Role.SYSTEM,
            at=now,
            note=entry.note,
            detail=entry.detail,
            **escalation,
        )
        fired.append(entry.fired)
    session.commit()
    return fired


def _due(
    rows: Iterable[SlaClock], now: datetime, rules: sla.ClockRules
) -> Iterator[tuple[SlaClock, list[sla.Mark], sla.Clock]]:
    """Each clock row with marks due by ``now``: the row, those marks in order, and its clock as
    it stands once they are fired."""
    for row in rows:
        clock = to_clock(row)
        marks = sla.due_marks(clock, now, rules)
        if marks:
            yield row, marks, replace(clock, step=marks[-1].step)


@dataclass(frozen=True)
class _Entry:
    """One event the sweep records for a mark: a warning, an overdue mark or an escalation."""

    action: str
    note: str
    detail: dict[str, Any]
    fired: str  # what the sweep reports it did
    level: int | None = None  # an escalation's level, and the grid code it goes to
    escalated_to: str | None = None


def _entries(
    case: Case,
    pending: list[tuple[SlaClock, sla.Mark]],
    level: Callable[[], int],
    *,
    policy: Policy,
) -> Iterator[_Entry]:
    """The events the ``pending`` marks make, in order: each overdue round escalates the case one
    grid level up from its home level, to the district. ``level`` reads the case's escalation
    level as it stands when the next event is decided (the caller records each one first)."""
    for row, mark in pending:
        detail = {
            "clock": row.stage,
            "due_at": mark.due_at.isoformat(),
            "deadline": row.deadline_at.isoformat(),
            "limit": row.limit,
        }
        if mark.kind == "warn":
            share = round(policy.rules.warn_share * 100)
            note = f"{row.stage} clock at {share}% of its limit: at risk"
            yield _Entry("warn", note, detail, f"warn:{row.stage}")
            continue
        if mark.round == 1:
            note = f"{row.stage} clock overdue since {mark.due_at.isoformat()}"
            yield _Entry("overdue", note, detail, f"overdue:{row.stage}")
        target = sla.escalation_level_for(mark.round, policy.max_escalations)
        while level() < target:
            up = level() + 1
            code = escalation_code(case, up, policy.home_level)
            grid_level = max(1, policy.home_level - up)
            yield _Entry(
                "escalate",
                f"督办: {row.stage} clock overdue {mark.round} limit(s); to grid level "
                f"{grid_level} ({code})",
                {
                    **detail,
                    "round": mark.round,
                    "level": up,
                    "grid_level": grid_level,
                    "to": code,
                },
                f"escalate:{grid_level}",
                up,
                code,
            )


# -- many cases at once ------------------------------------------------------------------------

# ``id = ANY(…)`` beside the join hands the planner the rows by primary key: joined to the
# unnest alone, it may hash every running clock (every open case) to find the few hundred here.
_MOVE_CLOCKS = """
UPDATE sla_clock AS k SET step = v.step, next_at = v.next_at, leased_until = NULL
FROM unnest(
    CAST(:id AS int[]), CAST(:old_step AS int[]), CAST(:deadline_at AS timestamptz[]),
    CAST(:step AS int[]), CAST(:next_at AS timestamptz[])
) AS v(id, old_step, deadline_at, step, next_at)
WHERE k.id = ANY(CAST(:id AS int[])) AND k.id = v.id
  AND k.step = v.old_step AND k.deadline_at = v.deadline_at
  AND k.stopped_at IS NULL AND k.paused_at IS NULL
RETURNING k.id
"""

_MOVE_CASES = """
UPDATE cases AS c SET updated_at = v.updated_at, state = v.state,
    escalation_level = v.escalation_level,
    escalated_to = CASE WHEN v.escalated THEN v.escalated_to ELSE c.escalated_to END
FROM unnest(
    CAST(:id AS int[]), CAST(:old_state AS text[]), CAST(:old_level AS int[]),
    CAST(:updated_at AS timestamptz[]), CAST(:state AS text[]), CAST(:escalation_level AS int[]),
    CAST(:escalated AS boolean[]), CAST(:escalated_to AS text[])
) AS v(id, old_state, old_level, updated_at, state, escalation_level, escalated, escalated_to)
WHERE c.id = ANY(CAST(:id AS int[])) AND c.id = v.id
  AND c.state = v.old_state AND c.escalation_level = v.old_level
RETURNING c.id
"""


@dataclass
class _Advance:
    """One case's marks, decided in memory: its clocks' new steps, its events, its columns."""

    case: dict[str, Any]
    clocks: list[dict[str, Any]]
    events: list[dict[str, Any]]
    fired: list[str]


def advance_batch(
    session: Session, case_ids: Sequence[int], *, now: datetime, policy: Policy
) -> dict[int, list[str]]:
    """Fire the due marks of many cases with a few statements; what each case recorded.

    The same marks, events and escalations as :func:`advance_case` for each case, decided in
    memory and written at once on PostgreSQL: one UPDATE of the clocks guarded on each step
    still being what was read, one UPDATE of the cases guarded on state and escalation level,
    one INSERT of the events. Should any guard fail (another sweep or a member of staff moved
    one of them meanwhile), the batch is undone and each case advanced alone, so each mark is
    still recorded once. On SQLite, each case alone.
    """
    ids = sorted({int(i) for i in case_ids})
    if session.get_bind().dialect.name != "postgresql":
        return {i: advance_case(session, i, now=now, policy=policy) for i in ids}
    cases = {c.id: c for c in session.exec(select(Case).where(col(Case.id).in_(ids)))}
    rows: dict[int, list[SlaClock]] = {}
    for row in session.exec(
        select(SlaClock)
        .where(col(SlaClock.case_id).in_(ids))
        .where(col(SlaClock.next_at) <= now)
        .order_by(col(SlaClock.id))
    ):
        rows.setdefault(row.case_id, []).append(row)
    try:
        plans = [
            plan
            for case_id in ids
            if (case := cases.get(case_id)) is not None
            and (plan := _plan_marks(case, rows.get(case_id, []), now=now, policy=policy))
        ]
    except IllegalAction:
        plans = None  # a state the sweep may not escalate from: advance_case says why
    if plans is not None and _write_marks(session, plans):
        session.commit()
        fired: dict[int, list[str]] = {i: [] for i in ids}
        fired.update({p.case["id"]: p.fired for p in plans})
        return fired
    session.rollback()
    return {i: advance_case(session, i, now=now, policy=policy) for i in ids}


def _plan_marks(
    case: Case, rows: list[SlaClock], *, now: datetime, policy: Policy
) -> _Advance | None:
    """What :func:`advance_case` would record for ``case`` (see there); None when nothing."""
    rules = policy.rules
    moves: list[dict[str, Any]] = []
    pending: list[tuple[SlaClock, sla.Mark]] = []
    for row, marks, done in _due(rows, now, rules):
        moves.append(
            {
                "id": row.id,
                "old_step": row.step,
                "deadline_at": row.deadline_at,
                "step": done.step,
                "next_at": sla.next_due(done, rules),
            }
        )
        pending += [(row, mark) for mark in marks]
    if not moves:
        return None
    pending.sort(key=lambda item: item[1].due_at)
    state = CaseState(case.state)
    level = case.escalation_level
    escalated_to: str | None = None
    events: list[dict[str, Any]] = []
    fired: list[str] = []

    def event(action: str, note: str, detail: dict[str, Any], after: CaseState) -> None:
        events.append(
            {
                "case_id": case.id,
                "at": now,
                "action": action,
                "from_state": str(state),
                "to_state": str(after),
                "actor": SLA_ACTOR,
                "role": str(Role.SYSTEM),
                "note": note,
                "detail": json.dumps(detail, ensure_ascii=False, default=str),
                "department_code": case.department_code,
            }
        )

    def current_level() -> int:
        return level  # as the escalations decided so far leave it

    for entry in _entries(case, pending, current_level, policy=policy):
        after = apply(state, "escalate", Role.SYSTEM) if entry.level is not None else state
        event(entry.action, entry.note, entry.detail, after)
        if entry.level is not None:
            state, level, escalated_to = after, entry.level, entry.escalated_to
        fired.append(entry.fired)
    columns = {
        "id": case.id,
        "old_state": case.state,
        "old_level": case.escalation_level,
        "updated_at": now,
        "state": str(state),
        "escalation_level": level,
        "escalated": level != case.escalation_level,
        "escalated_to": escalated_to,
    }
    return _Advance(columns, moves, events, fired)


def _write_marks(session: Session, plans: list[_Advance]) -> bool:
    """Write every plan; False (nothing to keep) when any guard found a row moved meanwhile."""
    if not plans:
        return True
    moves = [m for p in plans for m in p.clocks]
    steps = ("id", "old_step", "deadline_at", "step", "next_at")
    moved = session.execute(text(_MOVE_CLOCKS), {n: [m[n] for m in moves] for n in steps}).all()
    if len(moved) != len(moves):
        return False
    # A case whose marks record an event has its row touched, as ``record`` does.
    touched = [p.case for p in plans if p.events]
    if touched:
        names = tuple(touched[0])
        done = session.execute(text(_MOVE_CASES), {n: [c[n] for c in touched] for n in names})
        if len(done.all()) != len(touched):
            return False
    events = [e for p in plans for e in p.events]
    insert_rows(session, CaseEvent.__table__, events)  # type: ignore[attr-defined]
    return True
