"""The staff API: work queues, a case with its timeline, and every action of the closed loop.

Every request carries a staff token. A case outside the caller's scope answers 404 whatever the
question, so its existence is not disclosed; an action the table does not allow now answers 409
with the actions that are allowed; missing or wrong input answers 422 naming the field.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import ColumnElement, and_, exists, func, or_, true
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from intake.bounds import CaseId, Code, Offset, Text
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
from intake.deps import IntakeDep, SessionDep, SettingsDep
from intake.errors import FieldError as BadField
from intake.errors import body_errors
from intake.multipart import PartRule, read_multipart
from intake.refs import case_refs
from intake.rows import store_photo_rows
from intake.schemas import AreaRef
from intake.staff_auth import StaffDep
from intake.uploads import PHOTOS, Upload, check_photos
from urbangrid.cases.casework import (
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
from urbangrid.cases.lifecycle import ConcurrentChange
from urbangrid.cases.public import photo_url, public_photos, public_url_digest
from urbangrid.cases.staff import Principal
from urbangrid.cases.workdays import case_policy
from urbangrid.core.columns import utcnow
from urbangrid.core.grids import area_names
from urbangrid.core.settings import Settings
from urbangrid.core.tables import Case, Photo, SlaClock
from urbangrid.domain.access import ScopeKind, can_see, may_act
from urbangrid.domain.states import CaseState
from urbangrid.domain.workflow import TRANSITIONS, IllegalAction, Role

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
    return CasePage(total=int(total), limit=limit, offset=offset, items=[_summary(c) for c in rows])


@router.get("/{case_id}", response_model=CaseDetail)
def read_case(
    case_id: CaseId, principal: StaffDep, session: SessionDep, settings: SettingsDep
) -> CaseDetail:
    """A case with its areas, clocks, timeline and photos, and the actions open to the caller."""
    case = visible_case(session, principal, case_id)
    return _detail(session, case, principal, settings.sla_home_level - 1)


_ACTION_FIELDS = [name for name in ActionBody.model_fields if name != "photos"]
_ACTION_BODY = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {"schema": ActionBody.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        **{name: {"type": "string"} for name in _ACTION_FIELDS},
                        "photos": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "Photos taken for this step (the after-photo of "
                            "handle), or text parts naming photos stored for this case (photo:N)",
                        },
                    },
                }
            },
        },
    }
}
# Bytes allowed per text field of a multipart action (UTF-8: up to four bytes a character).
_TEXT_LIMITS = {"note": 16_000, "reason": 8_000, "public_note": 8_000, "department": 256}
_TEXT_LIMITS |= {"by": 64, "category": 32}
# A photo uploaded with a step shows the work done on it, or the case as found.
_AFTER_STEPS = frozenset({"handle", "check_pass", "check_fail"})


@router.post(
    "/{case_id}/actions/{action}",
    response_model=CaseDetail,
    openapi_extra=_ACTION_BODY,
    responses={
        403: {"description": "The caller's role only reads"},
        409: {"description": "Not allowed now; the body lists the allowed actions"},
        415: {"description": "Neither JSON nor multipart"},
    },
)
async def take_action(
    case_id: CaseId,
    action: Annotated[str, Path(description=", ".join(ACTIONS))],
    request: Request,
    principal: StaffDep,
    intake: IntakeDep,
) -> CaseDetail | JSONResponse:
    """Take one action of the closed loop on a case, as the caller's role.

    The body may be empty, JSON, or multipart/form-data carrying the same fields and the
    step's photos (``photos``: files, or text parts naming photos already stored for this case
    as ``photo:N``). ``note`` and ``reason`` are internal; ``public_note`` is what the resident
    and Open311 read."""
    settings = intake.settings

    def check() -> None:
        with Session(intake.engine) as session:
            visible_case(session, principal, case_id)
        if not may_act(principal.role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"a {principal.role} account only reads")
        if action not in ACTIONS:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"no action {action!r}; actions: {', '.join(ACTIONS)}"
            )

    await run_in_threadpool(check)
    body, uploads = await _action_body(request, settings)
    if uploads:
        await run_in_threadpool(intake.store_raw, uploads)

    def run() -> tuple[CaseDetail | JSONResponse, tuple[int, ...]]:
        with Session(intake.engine, expire_on_commit=False) as session:
            return _act_on(session, case_id, action, body, uploads, principal, settings)

    answer, stored = await run_in_threadpool(run)
    intake.publish_photos(stored)
    return answer


async def _action_body(
    request: Request, settings: Settings
) -> tuple[ActionBody, tuple[Upload, ...]]:
    """The action's input from an empty, JSON or multipart body."""
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        rules = {name: PartRule(limit) for name, limit in _TEXT_LIMITS.items()}
        # Files and references together; the files alone are held to photos_per_report below.
        rules[PHOTOS] = PartRule(max_bytes=settings.photo_max_bytes, max_count=20, is_file=True)
        parts = await read_multipart(request.headers["content-type"], request.stream(), rules)
        fields: dict[str, Any] = {}
        for name, found in parts.items():
            if name == PHOTOS:
                continue
            if found[0].filename is not None:
                raise BadField(name, "must be a text field, not a file")
            value = found[0].text().strip()
            if value:
                fields[name] = value
        files = [p for p in parts.get(PHOTOS, []) if p.filename is not None]
        refs = [p.text().strip() for p in parts.get(PHOTOS, []) if p.filename is None]
        if len(files) > settings.photos_per_report:
            raise BadField(
                PHOTOS,
                f"at most {settings.photos_per_report} photos with one step",
                kind="too_many_parts",
            )
        fields[PHOTOS] = [ref for ref in refs if ref]
        try:
            body = ActionBody.model_validate(fields)
        except ValidationError as exc:
            raise body_errors(exc) from exc
        return body, await check_photos(files, settings)
    raw = await request.body()
    if not raw.strip():
        return ActionBody(), ()  # an action that needs nothing takes nothing
    if content_type and not content_type.startswith("application/json"):
        raise BadField(
            "content-type",
            "send application/json, multipart/form-data or no body",
            kind="unsupported_media_type",
            status=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            where="header",
        )
    try:
        return ActionBody.model_validate_json(raw), ()
    except ValidationError as exc:
        raise body_errors(exc) from exc


def _act_on(
    session: Session,
    case_id: int,
    action: str,
    body: ActionBody,
    uploads: tuple[Upload, ...],
    principal: Principal,
    settings: Settings,
) -> tuple[CaseDetail | JSONResponse, tuple[int, ...]]:
    """Take the step in one transaction: the photos uploaded with it, the step's events and
    its clocks are committed together or not at all."""
    case = visible_case(session, principal, case_id)
    policy = case_policy(session, settings)
    stored: tuple[int, ...] = ()
    try:
        if uploads:
            stored = store_photo_rows(
                session.connection(),
                case_id=case_id,
                event_id=None,
                uploads=uploads,
                now=utcnow(),
                kind="after" if action in _AFTER_STEPS else "before",
            )
        given = ActionInput(
            note=body.note,
            reason=body.reason,
            department=body.department,
            by=body.by,
            photos=(*body.photos, *(f"photo:{i}" for i in stored)),
            category=body.category,
            public_note=body.public_note,
        )
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
        return (
            JSONResponse(
                status_code=status.HTTP_409_CONFLICT,
                content={
                    "detail": message,
                    "state": fresh.state,
                    "allowed": _allowed(fresh, principal.role, policy.max_escalations),
                },
            ),
            (),
        )
    session.commit()
    session.refresh(case)
    return _detail(session, case, principal, policy.max_escalations), stored


def _allowed(case: Case, role: Role, max_escalations: int) -> list[str]:
    if not may_act(role):
        return []
    return available_actions(
        CaseState(case.state),
        role,
        pending_request=case.pending_request,
        escalation_level=case.escalation_level,
        max_escalations=max_escalations,
        near_boundary=case.near_boundary is not None,
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
        near_boundary=case.near_boundary is not None,
        neighbour=case.near_boundary,
    )


def _neighbour(session: Session, case: Case) -> AreaRef | None:
    if case.near_boundary is None or case.grid_version_id is None:
        return None
    names = area_names(session, case.grid_version_id, [case.near_boundary])
    return AreaRef(code=case.near_boundary, name=names.get(case.near_boundary, ""))


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
    # The case's own photos and those of the reports that joined it.
    linked = [case.id, *session.exec(select(Case.id).where(col(Case.duplicate_of) == case.id))]
    public = {p.id for found in public_photos(session, [case.id]).values() for p in found}
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
            public_note=str(detail_of(e).get("public_note") or ""),
            detail=detail_of(e),
        )
        for e in events
    ]
    steps = {e.id: e.action for e in events}
    photos = [
        PhotoRef(
            id=p.id or 0,
            ref=f"photo:{p.id}",
            kind=p.kind,
            state=p.state,
            action=steps.get(p.event_id) if p.event_id else None,
            at=p.created_at,
            hidden=p.hidden,
            redactions=json.loads(p.redactions or "[]"),
            url=f"/api/v1/cases/{case.id}/photos/{p.id}.jpg" if p.digest else None,
            public_url=photo_url(digest)
            if (digest := public_url_digest(p)) and p.id in public
            else None,
        )
        for p in session.exec(
            select(Photo).where(col(Photo.case_id).in_(linked)).order_by(col(Photo.id))
        )
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
        neighbour_street=_neighbour(session, case),
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
