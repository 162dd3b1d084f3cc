"""Serving stored photos: only the stripped copies, never a raw upload, never a hidden one.

Handlers are plain functions so that the database and the storage (a bucket, possibly) are
read in the thread pool, not on the event loop.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from intake.bounds import CaseId, Reason
from intake.case_detail import visible_case
from intake.deps import IntakeDep, SessionDep, SettingsDep
from intake.errors import FieldError
from intake.rows import store_photo_rows
from intake.staff_auth import StaffDep
from intake.uploads import multipart_body, read_form, require_multipart
from urbangrid.cases.blurring import drop_unused_copy
from urbangrid.cases.lifecycle import ConcurrentChange
from urbangrid.cases.moderation import (
    MODERATORS,
    HiddenElsewhere,
    NotReady,
    redact,
    set_hidden,
    twins,
)
from urbangrid.cases.public import photo_url, public_url_digest, served_photo
from urbangrid.cases.staff import Principal
from urbangrid.core.columns import utcnow
from urbangrid.core.settings import Settings
from urbangrid.core.storage import Storage, object_key
from urbangrid.core.tables import Case, CaseEvent, Photo
from urbangrid.domain.access import may_act

__all__ = ["photo_url", "router", "staff_router"]

router = APIRouter(prefix="/api/v1/photos", tags=["photos"])
staff_router = APIRouter()

Digest = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the stored JPEG")]
# A photo's bytes never change under its digest, but it may be taken down (hidden, its case
# voided, a part covered): caches keep it and ask again each time (a 304 while it is shown).
_CACHE = "public, no-cache"
PhotoId = Annotated[int, Path(ge=1, le=2**62)]


def _serve(request: Request, session: SessionDep, digest: str, prefix: str) -> Response:
    shown = served_photo(session, digest)
    if shown is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such photo")
    if request.headers.get("if-none-match") == f'"{digest}"':
        return Response(status_code=status.HTTP_304_NOT_MODIFIED)
    storage: Storage = request.app.state.storage
    try:
        data = storage.get(object_key(prefix, digest, ".jpg"))
    except KeyError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "photo missing from storage") from exc
    return Response(
        data,
        media_type="image/jpeg",
        headers={"Cache-Control": _CACHE, "ETag": f'"{digest}"'},
    )


@router.get(
    "/{digest}.jpg", response_class=Response, responses={200: {"content": {"image/jpeg": {}}}}
)
def get_photo(request: Request, session: SessionDep, digest: Digest) -> Response:
    """A stored photo (at most 2048 px, upright, without metadata)."""
    return _serve(request, session, digest, "photos")


@router.get(
    "/{digest}/thumb.jpg", response_class=Response, responses={200: {"content": {"image/jpeg": {}}}}
)
def get_thumbnail(request: Request, session: SessionDep, digest: Digest) -> Response:
    """A photo's thumbnail."""
    return _serve(request, session, digest, "thumbs")


class StaffPhoto(BaseModel):
    id: int
    ref: str = Field(description="Name it in a step's photos, e.g. handle's after-photo")


class StaffPhotos(BaseModel):
    photos: list[StaffPhoto]


class StaffPhotoForm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["after", "before"] = "after"


_STAFF_BODY = multipart_body({"kind": {"type": "string", "enum": ["after", "before"]}})


@staff_router.post(
    "/api/v1/cases/{case_id}/photos",
    status_code=status.HTTP_201_CREATED,
    response_model=StaffPhotos,
    openapi_extra=_STAFF_BODY,
    tags=["cases"],
)
async def upload_case_photos(
    case_id: CaseId,
    request: Request,
    principal: StaffDep,
    intake: IntakeDep,
) -> StaffPhotos:
    """Staff photos of a case (the department's after-photo, a supervisor's check): checked
    and processed like residents' photos; name the returned refs in the step they prove."""
    require_multipart(request)

    def visible() -> None:
        with Session(intake.engine) as session:
            visible_case(session, principal, case_id)
        if not may_act(principal.role):  # a photo attached to a case is published with it
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"a {principal.role} account only reads")

    await run_in_threadpool(visible)
    form, uploads = await read_form(request, StaffPhotoForm, intake.settings, {"kind": 16})
    await run_in_threadpool(intake.store_raw, uploads)

    def rows() -> tuple[int, ...]:
        with intake.engine.begin() as conn:
            return store_photo_rows(
                conn, case_id=case_id, event_id=None, uploads=uploads, now=utcnow(), kind=form.kind
            )

    ids = await run_in_threadpool(rows)
    intake.publish_photos(ids)
    return StaffPhotos(photos=[StaffPhoto(id=i, ref=f"photo:{i}") for i in ids])


def case_photo(session: Session, case_id: int, photo_id: int) -> Photo:
    """One of the photos staff judge a case by: its own, or one sent with a resident's report
    that joined it as a duplicate (the case page lists both, under the case's own address, and
    the staff who may see the case may see all its evidence, whoever's scope the joined
    report's place fell in)."""
    photo = session.get(Photo, photo_id)
    if photo is not None and photo.case_id != case_id:
        sent_with = session.get(Case, photo.case_id)
        if sent_with is None or sent_with.duplicate_of != case_id:
            photo = None
    if photo is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"case {case_id} has no photo {photo_id}")
    return photo


@staff_router.get(
    "/api/v1/cases/{case_id}/photos/{photo_id}.jpg",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
    tags=["cases"],
)
def get_case_photo(
    case_id: CaseId, photo_id: PhotoId, request: Request, principal: StaffDep, session: SessionDep
) -> Response:
    """A photo of a case as stored, uncovered and even when hidden: for staff in scope."""
    visible_case(session, principal, case_id)
    photo = case_photo(session, case_id, photo_id)
    if photo.digest is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"photo {photo_id} is not stored yet")
    storage: Storage = request.app.state.storage
    try:
        data = storage.get(object_key("photos", photo.digest, ".jpg"))
    except KeyError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "photo missing from storage") from exc
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


class HideBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason = Field(description="Internal: why")


class RedactBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rectangles: list[tuple[float, float, float, float]] = Field(
        min_length=1,
        max_length=50,
        description="[left, top, right, bottom] in the stored photo's pixels (see width, height)",
    )
    reason: Reason = Field(description="Internal: why")


class Moderated(BaseModel):
    id: int
    hidden: bool
    redactions: list[list[int]]
    public_url: str | None = Field(description="Where the public sees it; none while hidden")
    event_id: int | None = Field(
        description="The step on the case's timeline; none when the photo already was so"
    )


def _moderate(
    session: Session,
    principal: Principal,
    case_id: int,
    photo_id: int,
    step: Callable[[Case, Photo], CaseEvent | None],
) -> Moderated:
    case = visible_case(session, principal, case_id)
    if principal.role not in MODERATORS:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only a shift lead moderates photos")
    photo = case_photo(session, case_id, photo_id)
    try:
        event = step(case, photo)
    except (NotReady, HiddenElsewhere) as exc:
        session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except ValueError as exc:
        session.rollback()
        raise FieldError("rectangles", str(exc)) from exc
    except ConcurrentChange as exc:
        session.rollback()
        raise HTTPException(
            status.HTTP_409_CONFLICT, "the case or its photo just changed; look again and retry"
        ) from exc
    session.commit()
    session.refresh(photo)
    digest = public_url_digest(photo)
    shown = served_photo(session, digest) if digest else None
    return Moderated(
        id=photo_id,
        hidden=photo.hidden,
        redactions=json.loads(photo.redactions or "[]"),
        public_url=photo_url(digest) if digest and shown is not None else None,
        event_id=event.id if event is not None else None,
    )


def _visibility(
    session: Session,
    principal: Principal,
    case_id: int,
    photo_id: int,
    body: HideBody,
    *,
    hidden: bool,
) -> Moderated:
    """Hide or show one photo: the same step both ways, told apart only by ``hidden``."""
    return _moderate(
        session,
        principal,
        case_id,
        photo_id,
        lambda case, photo: set_hidden(
            session,
            case,
            photo,
            hidden=hidden,
            actor=principal.name,
            role=principal.role,
            reason=body.reason,
            scope=principal.scope,
        ),
    )


@staff_router.post(
    "/api/v1/cases/{case_id}/photos/{photo_id}/hide", response_model=Moderated, tags=["cases"]
)
def hide_photo(
    case_id: CaseId, photo_id: PhotoId, body: HideBody, principal: StaffDep, session: SessionDep
) -> Moderated:
    """Take a photo down from every public view (shift lead); staff in scope still see it."""
    return _visibility(session, principal, case_id, photo_id, body, hidden=True)


@staff_router.post(
    "/api/v1/cases/{case_id}/photos/{photo_id}/show", response_model=Moderated, tags=["cases"]
)
def show_photo(
    case_id: CaseId, photo_id: PhotoId, body: HideBody, principal: StaffDep, session: SessionDep
) -> Moderated:
    """Publish a hidden photo again (shift lead)."""
    return _visibility(session, principal, case_id, photo_id, body, hidden=False)


@staff_router.post(
    "/api/v1/cases/{case_id}/photos/{photo_id}/redact", response_model=Moderated, tags=["cases"]
)
def redact_photo(
    case_id: CaseId,
    photo_id: PhotoId,
    body: RedactBody,
    request: Request,
    principal: StaffDep,
    session: SessionDep,
    settings: SettingsDep,
) -> Moderated:
    """Cover rectangles of a photo in its public copy (shift lead); the stored copy is kept."""
    return _recover(request, session, principal, settings, case_id, photo_id, body, off=False)


@staff_router.post(
    "/api/v1/cases/{case_id}/photos/{photo_id}/uncover", response_model=Moderated, tags=["cases"]
)
def uncover_photo(
    case_id: CaseId,
    photo_id: PhotoId,
    body: RedactBody,
    request: Request,
    principal: StaffDep,
    session: SessionDep,
    settings: SettingsDep,
) -> Moderated:
    """Take covers off a photo's public copy (shift lead): ``rectangles`` as the photo lists
    them in ``redactions``. The detector's blurs stay."""
    return _recover(request, session, principal, settings, case_id, photo_id, body, off=True)


def _recover(
    request: Request,
    session: Session,
    principal: Principal,
    settings: Settings,
    case_id: int,
    photo_id: int,
    body: RedactBody,
    *,
    off: bool,
) -> Moderated:
    """A new public copy with rectangles covered, or with covers taken ``off``."""
    storage: Storage = request.app.state.storage
    replaced: list[str | None] = []

    def step(case: Case, photo: Photo) -> CaseEvent | None:
        # Its copies with other reports get the new copy too; theirs may have differed.
        replaced.extend(p.public_digest for p in [photo, *twins(session, photo)])
        return redact(
            session,
            storage,
            case,
            photo,
            body.rectangles,
            actor=principal.name,
            role=principal.role,
            reason=body.reason,
            thumb_side=settings.photo_thumb_side,
            min_score=settings.photo_blur_min_score,
            off=off,
        )

    moderated = _moderate(session, principal, case_id, photo_id, step)
    # The copy it replaced shows what was covered before: not kept once nothing names it.
    for digest in dict.fromkeys(replaced):
        drop_unused_copy(session, storage, digest)
    return moderated
