"""Serving stored photos: only the stripped copies, never a raw upload, never a hidden one.

Handlers are plain functions so that the database and the storage (a bucket, possibly) are
read in the thread pool, not on the event loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from sqlmodel import col, select

from intake.deps import SessionDep
from urbangrid.storage import Storage, object_key
from urbangrid.tables import Photo

router = APIRouter(prefix="/api/v1/photos", tags=["photos"])

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
