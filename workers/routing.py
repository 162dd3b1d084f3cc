"""Routing a stored report: locate → choose the department → set the deadline → dispatch.

The steps are the domain's pure functions; this module reads their inputs from the database and
writes their result back in one transaction, guarded so that a second run of the same task (a
redelivery, the relay, a second worker) changes nothing and appends no second event.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import update
from sqlmodel import Session, select

from geo.store import ActiveGrid
from urbangrid.columns import utcnow
from urbangrid.domain.routing import Rule, choose_department
from urbangrid.domain.states import CaseState
from urbangrid.domain.timelimits import WorkCalendar, add_limit, parse_limit
from urbangrid.tables import Case, CaseEvent, Category, Department, RoutingRule

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system:router"


@dataclass(frozen=True)
class RouteOutcome:
    case_id: int
    changed: bool
    state: str
    department_code: str | None = None


def route_case(
    case_id: int,
    *,
    session: Session,
    grid: ActiveGrid,
    calendar: WorkCalendar,
    tz: ZoneInfo,
    now: datetime | None = None,
) -> RouteOutcome:
    """Locate, route and dispatch one reported case; a no-op for a case already past REPORTED."""
    case = session.get(Case, case_id)
    if case is None:
        log.warning("route_case: case %s does not exist", case_id)
        return RouteOutcome(case_id, False, "MISSING")
    if case.state != CaseState.REPORTED or case.routed_at is not None:
        return RouteOutcome(case_id, False, case.state, case.department_code)
    now = now or utcnow()

    version_id, index = grid.current(session)
    found = index.assign(np.array([case.lon]), np.array([case.lat]))
    if not bool(found.inside[0]):
        # The grid changed under the report: a dispatcher places it by hand.
        claimed = _claim(session, case_id, {"routed_at": now, "grid_version_id": version_id})
        if claimed:
            _event(
                session,
                case_id,
                now,
                "locate",
                CaseState.REPORTED,
                CaseState.REPORTED,
                "outside the service area of the active grid; needs manual placement",
                {"grid_version_id": version_id},
            )
        session.commit()
        return RouteOutcome(case_id, claimed, CaseState.REPORTED)
    cells = [str(found.codes[level][0]) for level in (1, 2, 3, 4)]

    category = session.get(Category, case.category_code)
    if category is None:  # intake refuses unknown categories, so only a deleted one lands here
        raise LookupError(f"case {case_id}: category {case.category_code} no longer exists")
    rules = [
        Rule(r.id or 0, r.category_code, r.scope_code, r.department_code, r.priority)
        for r in session.exec(
            select(RoutingRule).where(RoutingRule.category_code == case.category_code)
        )
    ]
    offices = {
        d.grid_code: d.code
        for d in session.exec(select(Department).where(Department.grid_code == cells[1]))
        if d.grid_code
    }
    decision = choose_department(
        rules, category_code=case.category_code, cell_codes=cells, street_offices=offices
    )
    limit = parse_limit(category.time_limit)
    deadline = add_limit(case.created_at, limit, calendar=calendar, tz=tz)

    values: dict[str, object] = {
        "grid_version_id": version_id,
        "l1_code": cells[0],
        "l2_code": cells[1],
        "l3_code": cells[2],
        "l4_code": cells[3],
        "routed_at": now,
        "updated_at": now,
        "deadline_at": deadline,
    }
    if decision is None:
        claimed = _claim(session, case_id, {**values, "state": CaseState.FILED, "filed_at": now})
        if claimed:
            _event(
                session,
                case_id,
                now,
                "file",
                CaseState.REPORTED,
                CaseState.FILED,
                "filed automatically; no rule and no street office: dispatch by hand",
                {"cells": cells, "time_limit": str(limit)},
            )
        session.commit()
        return RouteOutcome(case_id, claimed, CaseState.FILED)

    values.update(
        filed_at=now,
        dispatched_at=now,
        state=CaseState.DISPATCHED,
        department_code=decision.department_code,
        routing_rule_id=decision.rule_id,
    )
    claimed = _claim(session, case_id, values)
    if claimed:
        _event(
            session,
            case_id,
            now,
            "file",
            CaseState.REPORTED,
            CaseState.FILED,
            "filed automatically",
            {
                "cells": cells,
                "grid_version_id": version_id,
                "time_limit": str(limit),
                "deadline": deadline.isoformat(),
            },
        )
        _event(
            session,
            case_id,
            now,
            "dispatch",
            CaseState.FILED,
            CaseState.DISPATCHED,
            f"dispatched to {decision.department_code}",
            {
                "department": decision.department_code,
                "rule_id": decision.rule_id,
                "scope": decision.scope_code,
            },
        )
    session.commit()
    return RouteOutcome(case_id, claimed, CaseState.DISPATCHED, decision.department_code)


def _claim(session: Session, case_id: int, values: dict[str, object]) -> bool:
    """Apply ``values`` only if the case is still unrouted; True when this call won."""
    result = session.execute(
        update(Case)
        .where(Case.id == case_id)  # type: ignore[arg-type]
        .where(Case.state == CaseState.REPORTED)  # type: ignore[arg-type]
        .where(Case.routed_at.is_(None))  # type: ignore[union-attr]
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _event(
    session: Session,
    case_id: int,
    at: datetime,
    action: str,
    from_state: str,
    to_state: str,
    note: str,
    detail: dict[str, object],
) -> None:
    session.add(
        CaseEvent(
            case_id=case_id,
            at=at,
            action=action,
            from_state=from_state,
            to_state=to_state,
            actor=SYSTEM_ACTOR,
            role="system",
            note=note,
            detail=json.dumps(detail, ensure_ascii=False, default=str),
        )
    )
