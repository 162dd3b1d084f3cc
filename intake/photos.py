"""Serving stored photos: only the stripped copies, never a raw upload, never a hidden one.

Handlers are plain functions so that the database and the storage (a bucket, possibly) are
read in the thread pool, not on the event loop.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from intake.bounds import CaseId
from intake.cases import visible_case
from intake.deps import IntakeDep, SessionDep
from intake.errors import FieldError
from intake.staff_auth import StaffDep
from intake.submission import store_photo_rows
from intake.uploads import multipart_body, read_form
from urbangrid.columns import utcnow
from urbangrid.storage import Storage, object_key
from urbangrid.tables import Photo

router = APIRouter(prefix="/api/v1/photos", tags=["photos"])
staff_router = APIRouter()

Digest = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the stored JPEG")]
_IMMUTABLE = "public, max-age=31536000, immutable"


def photo_url(digest: str, *, thumb: bool = False, base: str = "") -> str:
    """Where a stored photo is served; absolute when ``base`` is given.

    >>> photo_url("ab" * 32, thumb=True, base="https://report.example.cn/").split("/")[:6]
    ['https:', '', 'report.example.cn', 'api', 'v1', 'photos']
    >>> photo_url("ab" * 32).endswith("abab.jpg")
    True
    """
    return f"{base.rstrip('/')}/api/v1/photos/{digest}{'/thumb' if thumb else ''}.jpg"


def _serve(request: Request, session: SessionDep, digest: str, prefix: str) -> Response:
    shown = session.exec(
        select(Photo.id)
        .where(col(Photo.digest) == digest)
        .where(col(Photo.state) == "ready")
        .where(col(Photo.hidden).is_(False))
        .limit(1)
    ).first()
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
        headers={"Cache-Control": _IMMUTABLE, "ETag": f'"{digest}"'},
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
    content_type = request.headers.get("content-type", "").lower()
    if not content_type.startswith("multipart/form-data"):
        raise FieldError(
            "content-type",
            "send multipart/form-data",
            status=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            where="header",
            kind="unsupported_media_type",
        )

    def visible() -> None:
        with Session(intake.engine) as session:
            visible_case(session, principal, case_id)

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
