"""Service request updates: the status changes clients read, and the residents' comments they
pass on (FixMyStreet's POST servicerequestupdates)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from intake import bounds
from intake.bounds import Page, Text
from intake.deps import IntakeDep, SessionDep
from intake.open311 import views
from intake.open311.comments import ClientUpdate, Recorded, fetch, fetchable, record_update
from intake.open311.forms import authorise, form_body, read_form
from intake.open311.render import document
from intake.open311.route import (
    MAX_ROWS,
    SERVED_HERE,
    Fmt,
    Lang,
    Open311Route,
    PageSize,
    check_jurisdiction,
    check_window,
    context,
    request_id,
)
from intake.rows import store_photo_rows
from intake.uploads import Upload
from urbangrid.cases.photos import PhotoRejected, inspect
from urbangrid.core.columns import utcnow
from urbangrid.core.tables import Case, CaseEvent
from urbangrid.domain.residents import NOTIFY_ACTIONS

router = APIRouter(route_class=Open311Route)


@router.get("/servicerequestupdates.{fmt}", dependencies=[SERVED_HERE])
def request_updates(
    fmt: Fmt,
    session: SessionDep,
    intake: IntakeDep,
    start_date: Annotated[str | None, Query(max_length=40)] = None,
    end_date: Annotated[str | None, Query(max_length=40)] = None,
    page: Page = 1,
    page_size: PageSize = MAX_ROWS,
    locale: Lang = "zh",
) -> Response:
    """Status changes of requests in a time window (default: the last day), oldest first.

    A request that joined another case as its duplicate reads as that case does (as in
    ``requests``): its own voiding is left out, since FixMyStreet reads ``closed`` as fixed, and
    each move of the case it joined is listed for it too, from the moment it joined.
    """
    end = bounds.instant("end_date", end_date) or datetime.now(UTC)
    start = bounds.instant("start_date", start_date) or end - timedelta(days=1)
    check_window(start, end)
    events = list(
        session.exec(
            select(CaseEvent)
            .join(Case, col(Case.id) == col(CaseEvent.case_id))
            .where(col(Case.duplicate_of).is_(None))
            .where(col(CaseEvent.at) >= start)
            .where(col(CaseEvent.at) <= end)
            .where(col(CaseEvent.from_state) != col(CaseEvent.to_state))
            .where(col(CaseEvent.action).in_(sorted(NOTIFY_ACTIONS | {"file", "accept"})))
            .order_by(col(CaseEvent.at), col(CaseEvent.id))
            .offset((page - 1) * page_size)
            .limit(page_size)
        )
    )
    ids = {e.case_id for e in events}
    cases = list(session.exec(select(Case).where(col(Case.id).in_(ids))))
    followers: dict[int, list[Case]] = {}
    for joined in session.exec(
        select(Case).where(col(Case.duplicate_of).in_(ids)).order_by(col(Case.id))
    ):
        followers.setdefault(joined.duplicate_of or 0, []).append(joined)
    ctx = context(session, intake, cases, lang=locale, extensions=False)
    docs: list[dict[str, Any]] = []
    for event in events:
        doc = views.update_doc(event, ctx)
        docs.append(doc)
        for joined in followers.get(event.case_id, []):
            if joined.created_at <= event.at:
                docs.append(
                    {
                        **doc,
                        "update_id": f"{event.id}-{joined.id}",
                        "service_request_id": str(joined.id),
                    }
                )
    return document(fmt, "service_request_updates", docs)


class UpdateIn(BaseModel):
    """The form fields of POST servicerequestupdates that this endpoint reads (FixMyStreet's
    Open311.pm sends these, and attribute[...] fields, which are ignored)."""

    api_key: Text = Field(default="", max_length=200)
    jurisdiction_id: Text | None = Field(default=None, max_length=200)
    service_request_id: Text = Field(max_length=20)
    description: Text = Field(min_length=1, max_length=4000)
    update_id: Text | None = Field(default=None, max_length=100)
    updated_datetime: Text | None = Field(default=None, max_length=40)
    status: Text | None = Field(default=None, max_length=40)
    media_url: Text | None = Field(default=None, max_length=1000, pattern=r"^https?://\S+$")
    first_name: Text | None = Field(default=None, max_length=2000)
    last_name: Text | None = Field(default=None, max_length=2000)
    email: Text | None = Field(default=None, max_length=2000)
    phone: Text | None = Field(default=None, max_length=2000)


@router.post(
    "/servicerequestupdates.{fmt}",
    openapi_extra=form_body(UpdateIn),
)
async def post_update(request: Request, fmt: Fmt, intake: IntakeDep) -> Response:
    """A client system passes on a resident's comment on a request (form-encoded; ``api_key``
    in the body or the query): it becomes the resident's comment on the case, with the photo at
    ``media_url`` when that is on an allowed host (else the link is kept)."""
    given, sent = await read_form(request, UpdateIn, intake.settings)
    check_jurisdiction(given.jurisdiction_id, intake.settings.open311_jurisdiction_id)
    client = await authorise(request, intake, given.api_key)
    if given.updated_datetime:
        bounds.instant("updated_datetime", given.updated_datetime)
    known = request_id(given.service_request_id)
    if known is None:
        raise HTTPException(404, f"service_request_id {given.service_request_id!r} not found")
    update = ClientUpdate(
        client=client,
        service_request_id=known,
        description=given.description.replace("\r\n", "\n").replace("\r", "\n"),
        update_id=given.update_id,
        status=given.status,
        media_url=given.media_url,
        contact=None,
    )
    fetched, detail = await _media(intake, given.media_url)
    uploads = sent + fetched

    def store() -> Recorded:
        with Session(intake.engine, expire_on_commit=False) as session:
            done = record_update(
                session, update, reopen_days=intake.settings.reopen_window_days, detail=detail
            )
            if uploads and not done.replayed:
                stored.extend(
                    store_photo_rows(
                        session.connection(),
                        case_id=done.case_id,
                        event_id=done.event_id,
                        uploads=uploads,
                        now=utcnow(),
                    )
                )
            session.commit()
            return done

    stored: list[int] = []
    if uploads:
        await run_in_threadpool(intake.store_raw, uploads)
    done = await run_in_threadpool(store)
    intake.publish_photos(tuple(stored))
    return document(
        fmt,
        "service_request_updates",
        [{"update_id": str(done.event_id)}],
        status=200 if done.replayed else 201,
    )


async def _media(intake: Any, url: str | None) -> tuple[tuple[Upload, ...], dict[str, Any]]:
    """The photo at ``url`` when its host is allowed and it passes the photo checks; else the
    link, kept in the event (with why it was not fetched)."""
    if not url:
        return (), {}
    settings = intake.settings
    if not fetchable(url, settings.open311_media_hosts):
        return (), {"media_url": url}
    try:
        data = await run_in_threadpool(fetch, url, settings.photo_max_bytes)
        info = await run_in_threadpool(
            inspect, data, max_bytes=settings.photo_max_bytes, max_pixels=settings.photo_max_pixels
        )
    except (OSError, ValueError, PhotoRejected) as exc:
        return (), {"media_url": url, "media_error": str(exc)[:200]}
    return (Upload("media_url", data, info),), {"media_url": url}
