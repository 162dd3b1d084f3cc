"""GET requests: service requests by id, by service, time window and status, or by token."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from sqlmodel import Session, col, select
from starlette.responses import Response

from intake import bounds
from intake.bounds import Page
from intake.deps import IntakeDep, SessionDep
from intake.errors import FieldError
from intake.open311 import views
from intake.open311.render import document
from intake.open311.route import (
    MAX_ROWS,
    MAX_SPAN,
    SERVED_HERE,
    Fmt,
    Lang,
    Open311Route,
    PageSize,
    check_window,
    context,
    request_id,
)
from urbangrid.core.tables import Case
from urbangrid.domain.states import OPEN_STATES

router = APIRouter(route_class=Open311Route)
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


def _ids(name: str, text: str | None, limit: int = MAX_ROWS) -> list[str]:
    items = [item.strip() for item in (text or "").split(",") if item.strip()]
    if len(items) > limit:
        raise FieldError(name, f"at most {limit} values")
    return items


@router.get("/requests.{fmt}", dependencies=[SERVED_HERE])
def list_requests(
    fmt: Fmt,
    session: SessionDep,
    intake: IntakeDep,
    service_request_id: Annotated[str | None, Query(max_length=20_000)] = None,
    service_code: Annotated[str | None, Query(max_length=2_000)] = None,
    start_date: Annotated[str | None, Query(max_length=40)] = None,
    end_date: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    page: Page = 1,
    page_size: PageSize = MAX_ROWS,
    extensions: bool = False,
    locale: Lang = "zh",
) -> Response:
    """Service requests, newest first: by id, or by service, time window and status."""
    query = select(Case)
    wanted = bounds.case_ids("service_request_id", service_request_id, limit=MAX_ROWS)
    if wanted:
        query = query.where(col(Case.id).in_(wanted))
    else:
        start = bounds.instant("start_date", start_date)
        end = bounds.instant("end_date", end_date)
        end = end or (start + MAX_SPAN if start else datetime.now(UTC))
        start = start or end - MAX_SPAN
        check_window(start, end)
        query = query.where(col(Case.created_at) >= start).where(col(Case.created_at) <= end)
        codes = _ids("service_code", service_code, 100)
        if not all(_CODE.match(code) for code in codes):
            raise FieldError("service_code", "codes are letters and digits, comma separated")
        if codes:
            query = query.where(col(Case.category_code).in_(codes))
        statuses = set(_ids("status", status, 2))
        if statuses - {"open", "closed"}:
            raise FieldError("status", "is open, closed, or both comma separated")
        if statuses == {"open"}:
            query = query.where(col(Case.state).in_([str(s) for s in OPEN_STATES]))
        elif statuses == {"closed"}:
            query = query.where(col(Case.state).not_in([str(s) for s in OPEN_STATES]))
    rows = list(
        session.exec(
            query.order_by(col(Case.created_at).desc(), col(Case.id).desc())
            .offset((page - 1) * page_size)
            .limit(page_size)
        )
    )
    return _requests(fmt, session, intake, rows, extensions=extensions, lang=locale)


@router.get("/requests/{service_request_id}.{fmt}", dependencies=[SERVED_HERE])
def get_request(
    fmt: Fmt,
    service_request_id: Annotated[str, Path(max_length=20)],
    session: SessionDep,
    intake: IntakeDep,
    extensions: bool = False,
    locale: Lang = "zh",
) -> Response:
    """One service request."""
    # Ids are database integers: anything else (², ①, 4,301 digits) names no request.
    known = request_id(service_request_id)
    case = session.get(Case, known) if known is not None else None
    if case is None:
        raise HTTPException(404, f"service_request_id {service_request_id!r} not found")
    return _requests(fmt, session, intake, [case], extensions=extensions, lang=locale)


def _requests(
    fmt: str,
    session: Session,
    intake: Any,
    rows: list[Case],
    *,
    extensions: bool,
    lang: str,
) -> Response:
    ctx = context(session, intake, rows, lang=lang, extensions=extensions)
    return document(
        fmt,
        "service_requests",
        [views.request_doc(case, ctx, extensions=extensions) for case in rows],
    )


@router.get("/tokens/{token}.{fmt}", dependencies=[SERVED_HERE])
def token(
    fmt: Fmt,
    token: Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
    session: SessionDep,
) -> Response:
    """The service request a token stands for."""
    case_id = session.exec(select(Case.id).where(col(Case.tracking_token) == token)).first()
    if case_id is None:
        raise HTTPException(404, "token not found")
    return document(fmt, "service_requests", [{"service_request_id": str(case_id), "token": token}])
