"""The staff API: work queues, a case with its timeline, and every action of the closed loop.

Every request carries a staff token. A case outside the caller's scope answers 404 whatever the
question, so its existence is not disclosed; an action the table does not allow now answers 409
with the actions that are allowed; missing or wrong input answers 422 naming the field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import ColumnElement, and_, exists, func, or_, true
from sqlmodel import col, select

from intake import case_actions
from intake.bounds import CaseId, Code, Offset, Text
from intake.case_detail import detail, summary, visible_case
from intake.case_schemas import CaseDetail, CasePage
from intake.deps import SessionDep, SettingsDep
from intake.staff_auth import StaffDep
from urbangrid.cases.staff import Principal
from urbangrid.core.columns import utcnow
from urbangrid.core.tables import Case, SlaClock
from urbangrid.domain.access import ScopeKind
from urbangrid.domain.states import CaseState

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])

_GRID_COLUMNS = (Case.l1_code, Case.l2_code, Case.l3_code, Case.l4_code)


def in_scope(principal: Principal) -> list[ColumnElement[bool]]:
    """SQL conditions matching ``domain.access.can_see`` for the caller's scope."""
    scope = principal.scope
    if scope.kind is ScopeKind.CITY:
        return []
    if scope.kind is ScopeKind.DEPARTMENT:
        return [col(Case.department_code) == scope.value]
    return [or_(*(col(column).startswith(scope.value) for column in _GRID_COLUMNS))]


def _running() -> list[ColumnElement[bool]]:
    return [
        col(SlaClock.case_id) == col(Case.id),
        col(SlaClock.stopped_at).is_(None),
        col(SlaClock.paused_at).is_(None),
    ]


@router.get("", response_model=CasePage)
def list_cases(
    principal: StaffDep,
    session: SessionDep,
    state: Annotated[list[CaseState] | None, Query(description="One or more states")] = None,
    department: Code = None,
    grid: Annotated[str | None, Query(pattern=r"^\d{1,18}$", description="Code prefix")] = None,
    category: Annotated[str | None, Query(pattern=r"^[CE]\d{4}$")] = None,
    sla: Annotated[Literal["at_risk", "overdue"] | None, Query()] = None,
    flag: Annotated[Text | None, Query(max_length=32)] = None,
    pending: Annotated[Literal["extension", "suspension"] | None, Query()] = None,
    escalated_to: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
    sort: Literal["due", "newest", "oldest"] = "due",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> CasePage:
    """A work queue: the caller's cases, filtered; by default the most urgent first."""
    conditions = in_scope(principal)
    if state:
        conditions.append(col(Case.state).in_([s.value for s in state]))
    if department:
        conditions.append(col(Case.department_code) == department)
    if grid:
        conditions.append(or_(*(col(column).startswith(grid) for column in _GRID_COLUMNS)))
    if category:
        conditions.append(col(Case.category_code) == category)
    if flag:
        conditions.append(col(Case.flag) == flag)
    if pending:
        conditions.append(col(Case.pending_request) == pending)
    if escalated_to:
        conditions.append(col(Case.escalated_to) == escalated_to)
    now = utcnow()
    if sla == "overdue":
        conditions.append(exists().where(*_running(), col(SlaClock.deadline_at) <= now))
    elif sla == "at_risk":
        conditions.append(
            exists().where(
                *_running(), col(SlaClock.warn_at) <= now, col(SlaClock.deadline_at) > now
            )
        )
    where = and_(true(), *conditions)
    total = session.exec(select(func.count()).select_from(Case).where(where)).one()
    order = {
        "due": (col(Case.stage_deadline_at).asc().nulls_last(), col(Case.id).asc()),
        "newest": (col(Case.id).desc(),),
        "oldest": (col(Case.id).asc(),),
    }[sort]
    rows = session.exec(select(Case).where(where).order_by(*order).offset(offset).limit(limit))
    return CasePage(total=int(total), limit=limit, offset=offset, items=[summary(c) for c in rows])


@router.get("/{case_id}", response_model=CaseDetail)
def read_case(
    case_id: CaseId, principal: StaffDep, session: SessionDep, settings: SettingsDep
) -> CaseDetail:
    """A case with its areas, clocks, timeline and photos, and the actions open to the caller."""
    case = visible_case(session, principal, case_id)
    return detail(session, case, principal, settings.sla_home_level - 1)


# After the routes above, as the OpenAPI document lists them.
router.include_router(case_actions.router)
