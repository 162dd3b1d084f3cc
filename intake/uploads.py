"""Photos arriving in a multipart body: read within limits, checked by content."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, TypeVar

from fastapi import Request, status
from pydantic import BaseModel, ValidationError

from intake.errors import FieldError, body_errors
from intake.multipart import Part, PartRule, read_multipart
from intake.pools import BoundedPool
from urbangrid.cases.photos import PhotoInfo, PhotoRejected, inspect
from urbangrid.core.settings import Settings

PHOTOS = "photos"
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Upload:
    """A photo as received: its bytes and what :func:`urbangrid.cases.photos.inspect` read."""

    field: str
    data: bytes
    info: PhotoInfo

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def photo_form(fields: Mapping[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """OpenAPI's description of a multipart form carrying photos and ``fields``: FastAPI reads
    these forms through our own streaming parser, so it cannot describe them itself."""
    return {
        "type": "object",
        "properties": {
            PHOTOS: {
                "type": "array",
                "items": {"type": "string", "format": "binary"},
                "minItems": 1,
                "maxItems": 6,
                "description": "JPEG, PNG, WebP or HEIC; one to six",
            },
            **fields,
        },
        "required": [PHOTOS, *required],
    }


def multipart_body(fields: Mapping[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """``openapi_extra`` for a route that takes only :func:`photo_form`."""
    return {
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": photo_form(fields, required)}},
        }
    }


def photo_rule(settings: Settings) -> PartRule:
    return PartRule(
        max_bytes=settings.photo_max_bytes, max_count=settings.photos_per_report, is_file=True
    )


def require_multipart(request: Request) -> None:
    """415 unless the body is multipart/form-data, before anything else is read or checked."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise FieldError(
            "content-type",
            "send multipart/form-data",
            status=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            where="header",
            kind="unsupported_media_type",
        )


async def read_form(
    request: Request, model: type[M], settings: Settings, text_limits: Mapping[str, int]
) -> tuple[M, tuple[Upload, ...]]:
    """The form's text fields as ``model`` and its photos, checked; at least one photo."""
    rules = {name: PartRule(limit) for name, limit in text_limits.items()}
    rules[PHOTOS] = photo_rule(settings)
    parts = await read_multipart(request.headers["content-type"], request.stream(), rules)
    fields: dict[str, str] = {}
    for name, found in parts.items():
        if name == PHOTOS:
            continue
        if found[0].filename is not None:
            raise FieldError(name, "must be a text field, not a file")
        value = found[0].text().strip()
        if value:  # an empty optional field of an HTML form means "not given"
            fields[name] = value
    try:
        form = model.model_validate(fields)
    except ValidationError as exc:
        raise body_errors(exc) from exc
    photos = parts.get(PHOTOS, [])
    if not photos:
        raise FieldError(PHOTOS, "at least one photo is required", kind="missing")
    return form, await check_photos(photos, settings)


class PhotoChecks(BoundedPool):
    """The checks of one API process's incoming photos, ``workers`` at a time.

    A check reads the whole photo (:func:`urbangrid.cases.photos.inspect`), which for a
    progressive JPEG near the pixel limit holds about 150 MB while it runs: unbounded, a burst
    of such uploads would take the process's memory with it. Checks beyond ``workers`` wait
    their turn, holding only the bytes they arrived with; past ``queue`` waiting, the upload
    answers 503 with Retry-After before anything of it is kept.
    """

    def __init__(self, workers: int, queue: int) -> None:
        super().__init__(
            workers,
            workers + queue,
            name="photo-check",
            busy="photo checks are busy",
            retry_after=2,
        )

    async def inspect(self, data: bytes, *, max_bytes: int, max_pixels: int) -> PhotoInfo:
        return await self.run(lambda: inspect(data, max_bytes=max_bytes, max_pixels=max_pixels))


@lru_cache(maxsize=4)
def photo_checks(workers: int, queue: int) -> PhotoChecks:
    """The process's gate for these settings: every route that takes photos shares it."""
    return PhotoChecks(workers, queue)


async def check_photos(
    parts: list[Part], settings: Settings, *, field: str = PHOTOS
) -> tuple[Upload, ...]:
    """Each photo checked by its content (format, size, pixels), named ``field[i]`` if not."""
    checks = photo_checks(settings.photo_check_workers, settings.photo_check_queue)
    uploads = []
    for index, part in enumerate(parts):
        data = bytes(part.data)
        try:
            info = await checks.inspect(
                data, max_bytes=settings.photo_max_bytes, max_pixels=settings.photo_max_pixels
            )
        except PhotoRejected as exc:
            name = f" ({part.filename})" if part.filename else ""
            raise FieldError(field, f"{field}[{index}]{name}: {exc}", kind="invalid_photo") from exc
        uploads.append(Upload(f"{field}[{index}]", data, info))
    return tuple(uploads)
