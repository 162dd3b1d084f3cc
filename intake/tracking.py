"""Following a report with its private tracking token: timeline, photo, comment, rating, reopen.

A report that joined an open case as its duplicate follows that case: the timeline, the photos
and the steps offered are the followed case's, and what the resident adds lands there, marked
with the resident's own report.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from intake.bounds import Text
from intake.deps import IntakeDep, SessionDep
from intake.ratelimit import limit_writes
from intake.rows import store_photo_rows
from intake.uploads import multipart_body, read_form, require_multipart
from urbangrid.cases.lifecycle import ConcurrentChange, record
from urbangrid.cases.public import photo_url, public_photos, public_url_digest
from urbangrid.core.columns import utcnow
from urbangrid.core.settings import Settings
from urbangrid.core.tables import Case, CaseEvent, Category, Department
from urbangrid.domain.public import detail_dict, public_timeline
from urbangrid.domain.residents import (
    ResidentView,
    open311_status,
    resident_actions,
    status_text,
)
from urbangrid.domain.states import CaseState
from urbangrid.domain.workflow import Role

router = APIRouter(prefix="/api/v1/track", tags=["tracking"])

Token = Annotated[str, Path(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
# Steps the reporter sees on the timeline besides state changes; SLA marks, escalations and
# staff's internal notes stay with staff.
_RESIDENT_NOTES = {"comment", "photo", "rate", "reopen_request"}
# The event each step records, and the step's name in ``actions``.
_STEPS = {"comment": "comment", "photo": "photo", "rate": "rate", "reopen_request": "reopen"}


class TimelineEntry(BaseModel):
    at: datetime
    action: str
    state: str
    text_zh: str = Field(description="What the state means to the resident, in Chinese")
    text_en: str = Field(description="… and in English")
    note: str = ""
    yours: bool = Field(description="Added by this report's resident")


class PhotoRef(BaseModel):
    id: int
    kind: str  # before | after
    ready: bool
    url: str | None
    thumb_url: str | None


class CategoryRef(BaseModel):
    code: str
    name_zh: str
    name_en: str


class TrackingView(BaseModel):
    """A report as its resident follows it; contact details are never part of it."""

    id: int = Field(description="The resident's own report")
    case_id: int = Field(description="The case followed: the report itself, or the one it joined")
    duplicate_of: int | None
    state: str
    status: str = Field(description="open or closed (Open311)")
    status_zh: str
    status_en: str
    category: CategoryRef
    description: str
    lat: float
    lon: float
    department: str | None
    department_en: str | None = Field(description="In English; the Chinese name when no other")
    deadline: datetime | None
    created_at: datetime
    updated_at: datetime
    timeline: list[TimelineEntry]
    photos: list[PhotoRef]
    actions: list[str] = Field(description="Steps open to the resident now")
    reopen_until: datetime | None
    rating: int | None = Field(description="This resident's rating since the last closure")


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Text = Field(min_length=1, max_length=2000)


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    score: int = Field(ge=1, le=5, description="1 very dissatisfied … 5 very satisfied")
    comment: Text = Field(default="", max_length=2000)


class ReopenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Text = Field(min_length=1, max_length=2000, description="What is still wrong")


class PhotoForm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Text = Field(default="", max_length=2000)


def _own_and_followed(session: Session, token: str) -> tuple[Case, Case]:
    own = session.exec(select(Case).where(col(Case.tracking_token) == token)).first()
    if own is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no report has this tracking token")
    followed = session.get(Case, own.duplicate_of) if own.duplicate_of else own
    assert followed is not None
    return own, followed


def _by(event: CaseEvent, own: Case) -> bool:
    return event.role == Role.CITIZEN and (
        detail_dict(event.detail).get("report") == own.id
        or (event.action == "submit" and event.case_id == own.id)
    )


def _resident_view(own: Case, followed: Case, events: list[CaseEvent]) -> ResidentView:
    closed = followed.closed_at
    since = [e for e in events if closed is not None and e.at >= closed and _by(e, own)]
    return ResidentView(
        state=CaseState(followed.state),
        closed_at=closed,
        rated_since_closing=any(e.action == "rate" for e in since),
        reopen_asked_since_closing=any(e.action == "reopen_request" for e in since),
    )


def build_view(session: Session, own: Case, followed: Case, *, reopen_days: float) -> TrackingView:
    events = list(
        session.exec(
            select(CaseEvent)
            .where(col(CaseEvent.case_id) == followed.id)
            .order_by(col(CaseEvent.id))
        )
    )
    # The followed case's public timeline: staff's internal words never, this resident's own
    # comments and ratings only (a resident who joined the case sees no one else's).
    timeline = [
        TimelineEntry(
            at=step.at,
            action=step.action,
            state=step.state,
            text_zh=step.text_zh,
            text_en=step.text_en,
            note=step.public_note,
            yours=step.resident_report == own.id
            or (step.action == "submit" and followed.id == own.id),
        )
        for step in public_timeline(events, resident_report=own.id)
    ]
    photos = public_photos(session, [followed.id or 0]).get(followed.id or 0, [])
    view = _resident_view(own, followed, events)
    window = timedelta(days=reopen_days)
    category = session.get(Category, followed.category_code)
    department = (
        session.get(Department, followed.department_code) if followed.department_code else None
    )
    rating = next(
        (
            int(detail_dict(e.detail).get("score", 0))
            for e in reversed(events)
            if e.action == "rate"
            and _by(e, own)
            and followed.closed_at
            and e.at >= followed.closed_at
        ),
        None,
    )
    return TrackingView(
        id=own.id or 0,
        case_id=followed.id or 0,
        duplicate_of=own.duplicate_of,
        state=followed.state,
        status=open311_status(followed.state),
        status_zh=status_text(followed.state, "zh"),
        status_en=status_text(followed.state, "en"),
        category=CategoryRef(
            code=followed.category_code,
            name_zh=category.name_zh if category else followed.category_code,
            name_en=category.name_en if category else followed.category_code,
        ),
        description=own.description,
        lat=followed.lat,
        lon=followed.lon,
        department=department.name if department else None,
        department_en=department.named("en") if department else None,
        deadline=followed.deadline_at,
        created_at=followed.created_at,
        updated_at=followed.updated_at,
        timeline=timeline,
        photos=[
            PhotoRef(
                id=p.id or 0,
                kind=p.kind,
                ready=p.state == "ready",
                url=photo_url(digest) if (digest := public_url_digest(p)) else None,
                thumb_url=photo_url(digest, thumb=True) if digest else None,
            )
            for p in photos
        ],
        actions=resident_actions(view, now=utcnow(), reopen_window=window),
        reopen_until=followed.closed_at + window
        if followed.closed_at and view.state == CaseState.CLOSED
        else None,
        rating=rating,
    )


def _act(
    session: Session,
    token: str,
    action: str,
    *,
    note: str,
    settings: Settings,
    detail: dict[str, Any] | None = None,
    then: Callable[[Case, CaseEvent], None] | None = None,
) -> TrackingView:
    """Record one of the resident's steps on the followed case, if it is open to them now;
    ``then`` adds what belongs to the same step (photo rows) before the one commit."""
    reopen_days = settings.reopen_window_days
    own, followed = _own_and_followed(session, token)
    events = list(session.exec(select(CaseEvent).where(col(CaseEvent.case_id) == followed.id)))
    allowed = resident_actions(
        _resident_view(own, followed, events),
        now=utcnow(),
        reopen_window=timedelta(days=reopen_days),
    )
    step = _STEPS[action]
    if step not in allowed:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{step} is not open to you while the case is {followed.state}; "
            f"open now: {', '.join(allowed) or 'nothing'}",
        )
    try:
        event = record(
            session,
            followed,
            action,
            actor=f"citizen:{own.id}",
            role=Role.CITIZEN,
            note=note,
            detail={"report": own.id, **(detail or {})},
        )
    except ConcurrentChange as exc:
        session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, "the case just changed; look again") from exc
    if then is not None:
        then(followed, event)
    session.commit()
    return build_view(session, own, followed, reopen_days=reopen_days)


@router.get("/{token}", response_model=TrackingView)
def track(token: Token, session: SessionDep, intake: IntakeDep) -> TrackingView:
    """The case's public timeline, photos before and after, and the steps open to you now."""
    own, followed = _own_and_followed(session, token)
    return build_view(session, own, followed, reopen_days=intake.settings.reopen_window_days)


@router.post("/{token}/comments", response_model=TrackingView, dependencies=[Depends(limit_writes)])
def comment(token: Token, body: CommentIn, session: SessionDep, intake: IntakeDep) -> TrackingView:
    """Add a comment while the case is open."""
    return _act(session, token, "comment", note=body.text, settings=intake.settings)


@router.post("/{token}/rating", response_model=TrackingView, dependencies=[Depends(limit_writes)])
def rate(token: Token, body: RatingIn, session: SessionDep, intake: IntakeDep) -> TrackingView:
    """Rate the result once the case is closed: 1 to 5, with a comment."""
    score = {"score": body.score}
    return _act(session, token, "rate", note=body.comment, settings=intake.settings, detail=score)


@router.post("/{token}/reopen", response_model=TrackingView, dependencies=[Depends(limit_writes)])
def reopen(token: Token, body: ReopenIn, session: SessionDep, intake: IntakeDep) -> TrackingView:
    """Ask for the case to be reopened, within the window after closure, when it is not fixed."""
    return _act(session, token, "reopen_request", note=body.reason, settings=intake.settings)


_PHOTO_BODY = multipart_body({"note": {"type": "string", "maxLength": 2000}})


@router.post(
    "/{token}/photos",
    response_model=TrackingView,
    dependencies=[Depends(limit_writes)],
    openapi_extra=_PHOTO_BODY,
)
async def add_photos(token: Token, request: Request, intake: IntakeDep) -> TrackingView:
    """Add one to six photos while the case is open."""
    require_multipart(request)
    form, uploads = await read_form(request, PhotoForm, intake.settings, {"note": 8000})
    await run_in_threadpool(intake.store_raw, uploads)
    stored: list[int] = []

    def add_rows(case: Case, event: CaseEvent) -> None:
        assert case.id is not None
        stored.extend(
            store_photo_rows(
                session.connection(),
                case_id=case.id,
                event_id=event.id,
                uploads=uploads,
                now=event.at,
            )
        )

    with Session(intake.engine, expire_on_commit=False) as session:
        view = await run_in_threadpool(
            _act,
            session,
            token,
            "photo",
            note=form.note,
            settings=intake.settings,
            detail={"photos": len(uploads)},
            then=add_rows,
        )
    intake.publish_photos(tuple(stored))
    return view
