"""Routing a stored report: locate → file → choose the department → dispatch.

The steps are the domain's pure functions; this module reads their inputs from the database and
writes their result back through ``lifecycle.record`` in one transaction, guarded on the case
being still unrouted, so that a second run of the same task (a redelivery, the relay, a second
worker) changes nothing and appends no second event. Filing and dispatch by rule are automation
acting for the shift lead and the dispatcher: the events say so, and name the rule. A category
that needs an on-site verification is only located; one whose ``auto_dispatch`` is off is filed
and left to a dispatcher, with the rule's suggestion. Many reports at once go through
``workers/batch_routing.py``, which comes to the same result for each.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

import numpy as np
from sqlmodel import Session, col

from urbangrid.cases import clocks
from urbangrid.cases.casework import ROUTER, suggest
from urbangrid.cases.lifecycle import ConcurrentChange, record
from urbangrid.core.columns import utcnow
from urbangrid.core.grids import ActiveGrid
from urbangrid.core.tables import Case, Category
from urbangrid.domain.routing import RoutingDecision
from urbangrid.domain.sla import ClockRules
from urbangrid.domain.states import CaseState
from urbangrid.domain.workflow import Role

log = logging.getLogger(__name__)

SYSTEM_ACTOR = ROUTER


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
    rules: ClockRules,
    now: datetime | None = None,
) -> RouteOutcome:
    """Locate, file and dispatch one reported case; a no-op for a case already routed."""
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
    category = session.get(Category, case.category_code)
    if category is None:  # intake refuses unknown categories, so only a deleted one lands here
        raise LookupError(f"case {case_id}: category {case.category_code} no longer exists")
    inside = bool(found.inside[0])
    cells = (
        [str(found.codes[level][0]) if level in found.codes else "" for level in (1, 2, 3, 4)]
        if inside
        else []
    )
    located = {"grid_version_id": version_id, "routed_at": now}
    if inside:
        located |= placed(session, grid, version_id, case.lon, case.lat, cells)
    step = first_step(category, inside=inside, version_id=version_id, cells=cells, located=located)
    try:
        # ``locate`` moves no clock, so it ignores the rules; a waiting report's clocks start below.
        record(
            session,
            case,
            step.action,
            actor=SYSTEM_ACTOR,
            role=Role.SYSTEM,
            at=now,
            note=step.note,
            detail=step.detail,
            values=located,
            guards=unrouted,
            rules=rules,
        )
        if step.action == "locate":
            clocks.ensure_started(session, case, rules=rules)
            session.commit()
            return RouteOutcome(case_id, True, case.state)
    except ConcurrentChange:
        session.rollback()  # another worker routed it first
        return RouteOutcome(case_id, False, case.state, case.department_code)

    decision = suggest(session, case)
    if decision is not None and category.auto_dispatch:
        record(
            session,
            case,
            "dispatch",
            actor=SYSTEM_ACTOR,
            role=Role.SYSTEM,
            at=now,
            note=f"dispatched by rule to {decision.department_code}",
            detail=dispatch_detail(decision),
            values={
                "department_code": decision.department_code,
                "routing_rule_id": decision.rule_id,
            },
            rules=rules,
        )
    elif category.auto_dispatch:
        log.warning("case %s: no rule and no street office; left FILED for a dispatcher", case_id)
    session.commit()
    return RouteOutcome(case_id, True, case.state, case.department_code)


def placed(
    session: Session, grid: ActiveGrid, version_id: int, lon: float, lat: float, cells: list[str]
) -> dict[str, str | None]:
    """The case's columns for the four cells it lies in. Routed as usual, but a report within
    the margin of its street's boundary names the neighbouring street for the dispatcher to
    confirm or move it to."""
    near = grid.near_boundary(session, version_id, lon, lat, cells[1])
    return {
        "l1_code": cells[0],
        "l2_code": cells[1],
        "l3_code": cells[2] or None,
        "l4_code": cells[3] or None,
        "near_boundary": near.code if near else None,
    }


def boundary_detail(located: dict[str, object]) -> dict[str, object]:
    neighbour = located.get("near_boundary")
    return {"near_boundary": neighbour} if neighbour else {}


class Filing(Protocol):
    """What the router reads of a report's category to take its first step."""

    @property
    def needs_verification(self) -> bool: ...
    @property
    def auto_dispatch(self) -> bool: ...
    @property
    def time_limit(self) -> str: ...


@dataclass(frozen=True)
class FirstStep:
    action: Literal["locate", "file"]
    note: str
    detail: dict[str, object]


def first_step(
    category: Filing,
    *,
    inside: bool,
    version_id: int,
    cells: list[str],
    located: dict[str, object],
) -> FirstStep:
    """The router's step once it has located a report: the report waits (``locate``) when it
    lies outside the active grid (it changed under the report: a dispatcher places it by hand)
    or its category needs verification (by the operator and a supervisor); else it is filed."""
    boundary = boundary_detail(located)
    if not inside or category.needs_verification:
        note = (
            "located; the category needs an on-site verification before filing"
            if inside
            else "outside the service area of the active grid; needs manual placement"
        )
        return FirstStep(
            "locate", note, {"grid_version_id": version_id, "cells": cells, **boundary}
        )
    note = "filed automatically: the category needs no verification" + (
        "" if category.auto_dispatch else "; dispatch by a dispatcher"
    )
    detail = {
        "cells": cells,
        "grid_version_id": version_id,
        "time_limit": category.time_limit,
        **boundary,
    }
    return FirstStep("file", note, detail)


def dispatch_detail(decision: RoutingDecision) -> dict[str, object]:
    """What a dispatch by the rule table records: the department, the rule and its scope."""
    return {
        "department": decision.department_code,
        "suggested": decision.department_code,
        "rule_id": decision.rule_id,
        "scope": decision.scope_code,
    }
