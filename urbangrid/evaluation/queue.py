"""What staff work from: the cases open now, and a member of staff's queue, worst clock first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    and_,
    func,
    select,
)
from sqlmodel import Session

from urbangrid.core.portable_sql import SecondsBetween
from urbangrid.domain.states import OPEN_STATES
from urbangrid.evaluation.facts import count_of as _count
from urbangrid.evaluation.facts import instant as _instant
from urbangrid.evaluation.formulas import CLOCK_ORDER, ClockStatus, clock_status
from urbangrid.evaluation.scope import (
    CASES,
    Dimension,
    S,
    Scope,
    _case_filters,
    _case_group,
    _clock_deadline,
    _stage_start,
)


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
    # The neighbouring street (L2 code) of a report near its street's boundary, until a
    # dispatcher confirms the street or moves the case there.
    near_boundary: str | None = None


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
            c.near_boundary,
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
                near_boundary=row["near_boundary"],
            )
        )
    return sorted(
        items,
        key=lambda i: (
            CLOCK_ORDER[i.clock],
            i.seconds_left if i.seconds_left is not None else float("inf"),
        ),
    )
