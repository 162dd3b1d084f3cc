"""Residents' reports: submit one, and read it back."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from intake.bounds import CaseId
from intake.deps import IntakeDep, SessionDep
from intake.errors import FieldError, body_errors
from intake.idempotency import HEADER, check_key
from intake.ratelimit import client_address, limit_writes
from intake.refs import case_refs
from intake.schemas import (
    EventPublic,
    ReportAccepted,
    ReportCreate,
    ReportForm,
    ReportPublic,
)
from intake.submission import Submission
from intake.uploads import Upload, photo_form, read_form
from urbangrid.cases.public import case_timeline
from urbangrid.core.tables import Case

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


# Bytes allowed per text field of a multipart report (UTF-8: up to four bytes a character).
FORM_LIMITS = {
    "category": 32,
    "lat": 64,
    "lon": 64,
    "crs": 16,
    "description": 16_000,
    "contact": 800,
    "address": 2_000,
}

_FORM = ReportForm.model_json_schema()
_SUBMIT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": ReportCreate.model_json_schema()},
            "multipart/form-data": {
                "schema": {**_FORM, **photo_form(_FORM["properties"], required=("category",))}
            },
        },
    }
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ReportAccepted,
    dependencies=[Depends(limit_writes)],
    openapi_extra=_SUBMIT_BODY,
    responses={
        200: {"model": ReportAccepted, "description": "A retry: the case the key made first"},
        413: {"description": "A photo or the body is too large"},
        415: {"description": "Neither JSON nor multipart"},
        429: {"description": "Too many reports from this client; see Retry-After"},
    },
)
async def submit_report(
    request: Request,
    intake: IntakeDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            max_length=128,
            description="A key of the client's choosing: a retry with it returns the first case",
        ),
    ] = None,
) -> JSONResponse:
    """Report a problem as JSON, or as multipart with one to six photos.

    A multipart report may leave out lat/lon when a photo carries its GPS position. The answer
    comes at once; locating and routing happen in a worker.
    """
    content_type = request.headers.get("content-type", "").lower()
    settings = intake.settings
    uploads: tuple[Upload, ...] = ()
    report: ReportCreate | ReportForm
    if content_type.startswith("application/json"):
        try:
            report = ReportCreate.model_validate_json(await request.body())
        except ValidationError as exc:
            raise body_errors(exc) from exc
        channel = "api"
    elif content_type.startswith("multipart/form-data"):
        report, uploads = await read_form(request, ReportForm, settings, FORM_LIMITS)
        channel = "web" if request.headers.get("x-urbangrid-client") == "web" else "api"
    else:
        raise FieldError(
            "content-type",
            "send application/json or multipart/form-data",
            kind="unsupported_media_type",
            status=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            where="header",
        )
    accepted = await intake.submit(
        Submission(
            category=report.category,
            lat=report.lat,
            lon=report.lon,
            crs=report.crs,
            description=report.description,
            contact=report.contact,
            address=report.address,
            channel=channel,
            idempotency_key=check_key(idempotency_key),
            uploads=uploads,
            requester=client_address(request),
        )
    )
    intake.publish(accepted)
    body = ReportAccepted(
        id=accepted.id,
        tracking_token=accepted.tracking_token,
        state=accepted.state,
        duplicate_of=accepted.duplicate_of,
        photos=list(accepted.photo_ids),
    )
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=status.HTTP_200_OK if accepted.replayed else status.HTTP_201_CREATED,
        headers={"Idempotent-Replayed": "true"} if accepted.replayed else None,
    )


@router.get("/{report_id}", response_model=ReportPublic)
def read_report(
    report_id: CaseId,
    session: SessionDep,
) -> ReportPublic:
    """A report's state, its four grid areas, its department and its deadline."""
    case = session.get(Case, report_id)
    if case is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"report {report_id} not found")
    refs = case_refs(session, case)
    return ReportPublic(
        id=report_id,
        state=case.state,
        category=case.category_code,
        description=case.description,
        lat=case.lat,
        lon=case.lon,
        created_at=case.created_at,
        grid_version_id=case.grid_version_id,
        district=refs.district,
        street=refs.street,
        community=refs.community,
        cell=refs.cell,
        department=refs.department,
        deadline=case.deadline_at,
        events=[
            EventPublic(
                at=step.at,
                action=step.action,
                from_state=step.from_state,
                to_state=step.state,
                text_zh=step.text_zh,
                text_en=step.text_en,
                public_note=step.public_note,
            )
            for step in case_timeline(session, report_id)
        ],
    )
