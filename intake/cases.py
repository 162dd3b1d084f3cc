"""The staff API: work queues, a case with its timeline, and every action of the closed loop.

Every request carries a staff token. A case outside the caller's scope answers 404 whatever the
question, so its existence is not disclosed; an action the table does not allow now answers 409
with the actions that are allowed; missing or wrong input answers 422 naming the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.responses import JSONResponse
from sqlalchemy import ColumnElement, and_, exists, func, or_, true
from sqlmodel import Session, col, select

from intake.case_schemas import (
    ActionBody,
    CaseDetail,
    CasePage,
    CaseSummary,
    ClockPublic,
    PhotoRef,
    StaffEvent,
    Suggestion,
)
from intake.deps import SessionDep, SettingsDep
from intake.refs import case_refs
from intake.schemas import CaseId
from intake.staff_auth import StaffDep
from urbangrid.casework import (
    ActionInput,
    FieldError,
    Refused,
    act,
    available_actions,
    detail_of,
    events_of,
    returned_by,
    suggest,
)
from urbangrid.columns import utcnow
from urbangrid.domain.access import ScopeKind, can_see, may_act
from urbangrid.domain.states import CaseState
from urbangrid.domain.workflow import TRANSITIONS, IllegalAction, Role
from urbangrid.lifecycle import ConcurrentChange
from urbangrid.staff import Principal
from urbangrid.tables import Case, SlaClock
from urbangrid.workdays import case_policy

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])

ACTIONS = sorted(a for a in TRANSITIONS if a != "submit")
_GRID_COLUMNS = (Case.l1_code, Case.l2_code, Case.l3_code, Case.l4_code)


def in_scope(principal: Principal) -> list[ColumnElement[bool]]:
    """SQL conditions matching ``domain.access.can_see`` for the caller's scope."""
    scope = principal.scope
    if scope.kind is ScopeKind.CITY:
        return []
    if scope.kind is ScopeKind.DEPARTMENT:
        return [col(Case.department_code) == scope.value]
    return [or_(*(col(column).startswith(scope.value) for column in _GRID_COLUMNS))]


def visible_case(session: Session, principal: Principal, case_id: int) -> Case:
    case = session.get(Case, case_id)
    codes = [case.l1_code, case.l2_code, case.l3_code, case.l4_code] if case else []
    if case is None or not can_see(
        principal.scope, department_code=case.department_code, grid_codes=codes
    ):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"case {case_id} not found")
    return case


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
    department: Annotated[str | None, Query(max_length=64)] = None,
    grid: Annotated[str | None, Query(pattern=r"^\d{1,18}$", description="Code prefix")] = None,
    category: Annotated[str | None, Query(pattern=r"^[CE]\d{4}$")] = None,
    sla: Annotated[Literal["at_risk", "overdue"] | None, Query()] = None,
    flag: Annotated[str | None, Query(max_length=32)] = None,
    pending: Annotated[Literal["extension", "suspension"] | None, Query()] = None,
    escalated_to: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
    sort: Literal["due", "newest", "oldest"] = "due",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
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
    return CasePage(total=int(total), limit=limit, offset=offset, items=[_summary(c) for c in rows])


@router.get("/{case_id}", response_model=CaseDetail)
def read_case(
    case_id: CaseId, principal: StaffDep, session: SessionDep, settings: SettingsDep
) -> CaseDetail:
    """A case with its areas, clocks, timeline and photos, and the actions open to the caller."""
    case = visible_case(session, principal, case_id)
    return _detail(session, case, principal, settings.sla_home_level - 1)


@router.post(
    "/{case_id}/actions/{action}",
    response_model=CaseDetail,
    responses={409: {"description": "Not allowed now; the body lists the allowed actions"}},
)
def take_action(
    case_id: CaseId,
    action: Annotated[str, Path(description=", ".join(ACTIONS))],
    body: ActionBody,
    principal: StaffDep,
    session: SessionDep,
    settings: SettingsDep,
) -> CaseDetail | JSONResponse:
    """Take one action of the closed loop on a case, as the caller's role."""
    case = visible_case(session, principal, case_id)
    if not may_act(principal.role):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"a {principal.role} account only reads")
    if action not in ACTIONS:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no action {action!r}; actions: {', '.join(ACTIONS)}"
        )
    policy = case_policy(session, settings)
    given = ActionInput(
        note=body.note,
        reason=body.reason,
        department=body.department,
        by=body.by,
        photos=tuple(body.photos),
        category=body.category,
    )
    try:
        act(
            session,
            case,
            action,
            actor=principal.name,
            role=principal.role,
            given=given,
            policy=policy,
        )
    except FieldError as exc:
        session.rollback()
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"loc": ["body", exc.field], "msg": str(exc), "type": "value_error"}],
        ) from exc
    except (IllegalAction, Refused, ConcurrentChange) as exc:
        session.rollback()
        fresh = session.get(Case, case_id)
        assert fresh is not None
        session.refresh(fresh)
        message = (
            f"case {case_id} changed meanwhile; read it again"
            if isinstance(exc, ConcurrentChange)
            else str(exc)
        )
        return JSONResponse(
            status_code=status.HTTP_409_CONFLICT,
            content={
                "detail": message,
                "state": fresh.state,
                "allowed": _allowed(fresh, principal.role, policy.max_escalations),
            },
        )
    session.commit()
    session.refresh(case)
    return _detail(session, case, principal, policy.max_escalations)


def _allowed(case: Case, role: Role, max_escalations: int) -> list[str]:
    if not may_act(role):
        return []
    return available_actions(
        CaseState(case.state),
        role,
        pending_request=case.pending_request,
        escalation_level=case.escalation_level,
        max_escalations=max_escalations,
    )


def _summary(case: Case) -> CaseSummary:
    assert case.id is not None
    return CaseSummary(
        id=case.id,
        state=case.state,
        stage=case.stage,
        category=case.category_code,
        department=case.department_code,
        l2_code=case.l2_code,
        l4_code=case.l4_code,
        created_at=case.created_at,
        stage_deadline_at=case.stage_deadline_at,
        deadline_at=case.deadline_at,
        escalation_level=case.escalation_level,
        escalated_to=case.escalated_to,
        flag=case.flag,
        pending_request=case.pending_request,
    )


def _clock_status(row: SlaClock, now: datetime) -> str:
    if row.stopped_at is not None:
        return "met" if row.stopped_at <= row.deadline_at else "late"
    if row.paused_at is not None:
        return "paused"
    if now >= row.deadline_at:
        return "overdue"
    return "at_risk" if now >= row.warn_at else "running"


def _detail(session: Session, case: Case, principal: Principal, max_escalations: int) -> CaseDetail:
    assert case.id is not None
    now = utcnow()
    refs = case_refs(session, case)
    events = events_of(session, case.id)
    suggestion = None
    if case.state in (CaseState.FILED, CaseState.RETURNED) and case.l2_code:
        returned = returned_by(events)
        decision = suggest(session, case, exclude=returned)
        suggestion = Suggestion(
            department=decision.department_code if decision else None,
            rule_id=decision.rule_id if decision else None,
            scope=decision.scope_code if decision else None,
            returned_by=returned,
        )
    clock_rows = session.exec(
        select(SlaClock).where(SlaClock.case_id == case.id).order_by(col(SlaClock.id))
    ).all()
    timeline = [
        StaffEvent(
            id=e.id or 0,
            at=e.at,
            action=e.action,
            from_state=e.from_state,
            to_state=e.to_state,
            actor=e.actor,
            role=e.role,
            note=e.note,
            detail=detail_of(e),
        )
        for e in events
    ]
    # A step's photos are a list of refs; the submit event counts the resident's photos instead.
    photos = [
        PhotoRef(ref=str(ref), action=e.action, at=e.at)
        for e in timeline
        if isinstance(e.detail.get("photos"), list)
        for ref in e.detail["photos"]
    ]
    return CaseDetail(
        **_summary(case).model_dump(),
        description=case.description,
        lat=case.lat,
        lon=case.lon,
        district=refs.district,
        street=refs.street,
        community=refs.community,
        cell=refs.cell,
        department_ref=refs.department,
        case_deadline_at=case.case_deadline_at,
        filed_at=case.filed_at,
        dispatched_at=case.dispatched_at,
        handled_at=case.handled_at,
        closed_at=case.closed_at,
        rework_count=case.rework_count,
        return_count=case.return_count,
        extension_count=case.extension_count,
        reopen_count=case.reopen_count,
        allowed_actions=_allowed(case, principal.role, max_escalations),
        suggestion=suggestion,
        clocks=[
            ClockPublic(
                stage=row.stage,
                started_at=row.started_at,
                limit=row.limit,
                extended=row.extended,
                paused_s=row.paused_s,
                paused=row.paused_at is not None,
                stopped_at=row.stopped_at,
                warn_at=row.warn_at,
                deadline_at=row.deadline_at,
                status=_clock_status(row, now),
            )
            for row in clock_rows
        ],
        timeline=timeline,
        photos=photos,
    )
