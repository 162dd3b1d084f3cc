"""Residents' reports: submit one, and read it back."""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np
import shapely
from fastapi import APIRouter, BackgroundTasks, HTTPException, status
from sqlmodel import select

from geo.crs import to_wgs84
from geo.store import area_names
from intake.deps import CeleryDep, GridDep, SessionDep
from intake.schemas import (
    AreaRef,
    DepartmentRef,
    EventPublic,
    ReportAccepted,
    ReportCreate,
    ReportPublic,
)
from urbangrid.domain.states import CaseState
from urbangrid.tables import Case, CaseEvent, Category, Department
from workers.publish import publish_route

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


def field_error(field: str, message: str, kind: str = "value_error") -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors, naming the field at fault."""
    return HTTPException(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=[{"loc": ["body", field], "msg": message, "type": kind}],
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ReportAccepted)
def submit_report(
    report: ReportCreate,
    session: SessionDep,
    grid: GridDep,
    celery: CeleryDep,
    background: BackgroundTasks,
) -> ReportAccepted:
    """Store a report and answer at once; routing happens in a worker."""
    if session.get(Category, report.category) is None:
        raise field_error("category", f"unknown category {report.category!r}")
    x, y = to_wgs84(np.array([report.lon]), np.array([report.lat]), report.crs)
    lon, lat = float(x[0]), float(y[0])
    try:
        _, index = grid.current(session)
    except LookupError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    if not bool(index.assign(np.array([lon]), np.array([lat])).inside[0]):
        raise field_error(
            "lat",
            f"({report.lat}, {report.lon}) in {report.crs} is outside the service area",
            "outside_service_area",
        )
    case = Case(
        tracking_token=secrets.token_urlsafe(24),
        category_code=report.category,
        description=report.description,
        input_crs=report.crs,
        input_lat=report.lat,
        input_lon=report.lon,
        lat=lat,
        lon=lon,
        location=shapely.Point(lon, lat),
        state=CaseState.REPORTED,
    )
    session.add(case)
    session.flush()
    assert case.id is not None
    session.add(
        CaseEvent(
            case_id=case.id,
            action="submit",
            from_state=None,
            to_state=CaseState.REPORTED,
            actor="citizen",
            role="citizen",
            note=report.description[:200],
        )
    )
    # Committed before anything is published: if the broker is down, the relay finds it here.
    session.commit()
    background.add_task(_publish_and_mark, celery, case.id)
    return ReportAccepted(id=case.id, tracking_token=case.tracking_token, state=case.state)


def _publish_and_mark(celery: Any, case_id: int) -> None:
    publish_route(celery, case_id)


@router.get("/{report_id}", response_model=ReportPublic)
def read_report(report_id: int, session: SessionDep) -> ReportPublic:
    """A report's state, its four grid areas, its department and its deadline."""
    case = session.get(Case, report_id)
    if case is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"report {report_id} not found")
    codes = [case.l1_code, case.l2_code, case.l3_code, case.l4_code]
    names = area_names(session, case.grid_version_id, codes) if case.grid_version_id else {}
    areas = [AreaRef(code=c, name=names.get(c, "")) if c else None for c in codes]
    department = session.get(Department, case.department_code) if case.department_code else None
    events = session.exec(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)  # type: ignore[arg-type]
    ).all()
    return ReportPublic(
        id=report_id,
        state=case.state,
        category=case.category_code,
        description=case.description,
        lat=case.lat,
        lon=case.lon,
        created_at=case.created_at,
        grid_version_id=case.grid_version_id,
        district=areas[0],
        street=areas[1],
        community=areas[2],
        cell=areas[3],
        department=DepartmentRef(code=department.code, name=department.name)
        if department
        else None,
        deadline=case.deadline_at,
        events=[
            EventPublic(
                at=e.at,
                action=e.action,
                from_state=e.from_state,
                to_state=e.to_state,
                actor=e.actor,
                note=e.note,
            )
            for e in events
        ],
    )
