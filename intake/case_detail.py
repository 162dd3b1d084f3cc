"""A case as staff see it: the 404 for a case outside the caller's scope, its summary in a work
queue, and its detail (areas, clocks, timeline, photos) with the actions open to the caller."""

from __future__ import annotations

import json
from datetime import datetime

from fastapi import HTTPException, status
from sqlmodel import Session, col, select

from intake.case_schemas import (
    CaseDetail,
    CaseSummary,
    ClockPublic,
    PhotoRef,
    StaffEvent,
    Suggestion,
)
from intake.refs import case_refs
from intake.schemas import AreaRef
from urbangrid.cases.casework import available_actions, detail_of, events_of, returned_by, suggest
from urbangrid.cases.public import photo_url, public_photos, public_url_digest
from urbangrid.cases.staff import Principal, sees
from urbangrid.core.columns import utcnow
from urbangrid.core.grids import area_names
from urbangrid.core.tables import Case, Photo, SlaClock
from urbangrid.domain.access import may_act
from urbangrid.domain.states import CaseState
from urbangrid.domain.workflow import Role


def visible_case(session: Session, principal: Principal, case_id: int) -> Case:
    """The case, or 404 when it does not exist or lies outside the caller's scope."""
    case = session.get(Case, case_id)
    if case is None or not sees(principal.scope, case):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"case {case_id} not found")
    return case


def allowed(case: Case, role: Role, max_escalations: int) -> list[str]:
    """The actions ``role`` may take on the case now (none for a role that only reads)."""
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


def summary(case: Case) -> CaseSummary:
    """The case as a work queue lists it."""
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


def detail(session: Session, case: Case, principal: Principal, max_escalations: int) -> CaseDetail:
    """The case with its areas, clocks, timeline and photos, and the caller's actions."""
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
        **summary(case).model_dump(),
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
        allowed_actions=allowed(case, principal.role, max_escalations),
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
