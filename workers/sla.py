"""The SLA sweep: due clocks found with one indexed query, their marks fired once.

Deadlines live in the database (``sla_clock.next_at``), never in delayed broker messages: a
worker holding thousands of countdown tasks slows every other task and loses them to RabbitMQ's
consumer timeout. The scheduler runs :func:`claim_due` every ``sla_sweep_interval_s``; it leases
the due clocks and hands each case to :func:`advance_case` in a task. Advancing is guarded on the
clock's step, so two sweeps, a redelivered task or two workers on the same case fire each
warning, overdue mark and escalation exactly once.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from urbangrid.cases.casework import Policy, escalation_code
from urbangrid.cases.clocks import to_clock
from urbangrid.cases.lifecycle import record
from urbangrid.core.tables import Case, SlaClock
from urbangrid.domain import sla
from urbangrid.domain.workflow import Role

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
    for row in rows:
        clock = to_clock(row)
        marks = sla.due_marks(clock, now, rules)
        if not marks:
            continue
        done = replace(clock, step=marks[-1].step)
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
    for row, mark in pending:
        detail = {
            "clock": row.stage,
            "due_at": mark.due_at.isoformat(),
            "deadline": row.deadline_at.isoformat(),
            "limit": row.limit,
        }
        if mark.kind == "warn":
            share = round(rules.warn_share * 100)
            note = f"{row.stage} clock at {share}% of its limit: at risk"
            record(
                session,
                case,
                "warn",
                actor=SLA_ACTOR,
                role=Role.SYSTEM,
                at=now,
                note=note,
                detail=detail,
            )
            fired.append(f"warn:{row.stage}")
            continue
        if mark.round == 1:
            note = f"{row.stage} clock overdue since {mark.due_at.isoformat()}"
            record(
                session,
                case,
                "overdue",
                actor=SLA_ACTOR,
                role=Role.SYSTEM,
                at=now,
                note=note,
                detail=detail,
            )
            fired.append(f"overdue:{row.stage}")
        target = sla.escalation_level_for(mark.round, policy.max_escalations)
        while case.escalation_level < target:
            level = case.escalation_level + 1
            code = escalation_code(case, level, policy.home_level)
            grid_level = max(1, policy.home_level - level)
            record(
                session,
                case,
                "escalate",
                actor=SLA_ACTOR,
                role=Role.SYSTEM,
                at=now,
                note=f"督办: {row.stage} clock overdue {mark.round} limit(s); to grid level "
                f"{grid_level} ({code})",
                detail={
                    **detail,
                    "round": mark.round,
                    "level": level,
                    "grid_level": grid_level,
                    "to": code,
                },
                values={"escalated_to": code},
                guards=[col(Case.escalation_level) == case.escalation_level],
                rules=rules,
            )
            fired.append(f"escalate:{grid_level}")
    session.commit()
    return fired
