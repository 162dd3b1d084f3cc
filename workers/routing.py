"""Routing a stored report: locate → choose the department → set the deadline → dispatch.

The steps are the domain's pure functions; this module reads their inputs from the database and
writes their result back through ``lifecycle.record`` in one transaction, guarded on the case
being still unrouted, so that a second run of the same task (a redelivery, the relay, a second
worker) changes nothing and appends no second event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
from sqlmodel import Session, col, select

from geo.store import ActiveGrid
from urbangrid.columns import utcnow
from urbangrid.domain.routing import Rule, choose_department
from urbangrid.domain.states import CaseState
from urbangrid.domain.timelimits import WorkCalendar, add_limit, parse_limit
from urbangrid.domain.workflow import Role
from urbangrid.lifecycle import ConcurrentChange, record
from urbangrid.tables import Case, Category, Department, RoutingRule

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
    unrouted = [col(Case.routed_at).is_(None)]
    if not bool(found.inside[0]):
        # The grid changed under the report: a dispatcher places it by hand.
        try:
            record(
                session,
                case,
                "locate",
                actor=SYSTEM_ACTOR,
                role=Role.SYSTEM,
                at=now,
                note="outside the service area of the active grid; needs manual placement",
                detail={"grid_version_id": version_id},
                values={"routed_at": now, "grid_version_id": version_id},
                guards=unrouted,
            )
        except ConcurrentChange:
            session.rollback()
            return RouteOutcome(case_id, False, case.state)
        session.commit()
        return RouteOutcome(case_id, True, CaseState.REPORTED)
    cells = [str(found.codes[level][0]) if level in found.codes else "" for level in (1, 2, 3, 4)]

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
    located = {
        "grid_version_id": version_id,
        "l1_code": cells[0],
        "l2_code": cells[1],
        "l3_code": cells[2] or None,
        "l4_code": cells[3] or None,
        "routed_at": now,
        "deadline_at": deadline,
    }
    try:
        note = "filed automatically" + (
            "" if decision else "; no rule and no street office: dispatch by hand"
        )
        record(
            session,
            case,
            "file",
            actor=SYSTEM_ACTOR,
            role=Role.SYSTEM,
            at=now,
            note=note,
            detail={
                "cells": cells,
                "grid_version_id": version_id,
                "time_limit": str(limit),
                "deadline": deadline.isoformat(),
            },
            values=located,
            guards=unrouted,
        )
    except ConcurrentChange:
        session.rollback()  # another worker routed it first
        return RouteOutcome(case_id, False, case.state, case.department_code)
    if decision is not None:
        record(
            session,
            case,
            "dispatch",
            actor=SYSTEM_ACTOR,
            role=Role.SYSTEM,
            at=now,
            note=f"dispatched to {decision.department_code}",
            detail={
                "department": decision.department_code,
                "rule_id": decision.rule_id,
                "scope": decision.scope_code,
            },
            values={
                "department_code": decision.department_code,
                "routing_rule_id": decision.rule_id,
            },
        )
    session.commit()
    return RouteOutcome(case_id, True, case.state, case.department_code)
