"""What an Open311 client posts: its form (form-encoded, or multipart with photos) and its key."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from intake.apikeys import client_for
from intake.errors import FieldError
from intake.multipart import PartRule, read_multipart
from intake.ratelimit import admit_or_pass, burst, per_minute, too_many
from intake.uploads import Upload, check_photos

# The Helsinki/Bloomington extension: one photo as a multipart part of this name.
MEDIA = "media"


def form_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a POST of ``model``'s fields: form-encoded, or multipart with its
    photo (FastAPI cannot describe the forms our own reader takes)."""
    form = model.model_json_schema(by_alias=True)
    photo = {"type": "string", "format": "binary", "description": "JPEG, PNG, WebP or HEIC"}
    with_photo = {**form, "properties": {**form["properties"], MEDIA: photo}}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": form},
                "multipart/form-data": {"schema": with_photo},
            },
        }
    }


# Bytes allowed per text field of a multipart request (UTF-8: up to four bytes a character);
# fields this endpoint does not read (FixMyStreet's attribute[...]) are read and dropped.
_TEXT_PART = PartRule(max_bytes=16_000, max_count=20)
M = TypeVar("M", bound=BaseModel)


def _photo_fields(settings: Any) -> list[str]:
    """The multipart parts that carry photos: ``media`` (the Helsinki/Bloomington extension)
    and FixMyStreet's ``photo1``, ``photo2``… (its upload_files option)."""
    return [MEDIA, *(f"photo{n}" for n in range(1, settings.photos_per_report + 1))]


async def read_form(
    request: Request, model: type[M], settings: Any
) -> tuple[M, tuple[Upload, ...]]:
    """The request's fields as ``model`` and its photos: form-encoded, or multipart with
    photos checked as residents' are (at most ``photos_per_report`` in all)."""
    content_type = request.headers.get("content-type", "").lower()
    uploads: tuple[Upload, ...] = ()
    if content_type.startswith("multipart/form-data"):
        photo_rule = PartRule(settings.photo_max_bytes, max_count=1, is_file=True)
        names = _photo_fields(settings)
        parts = await read_multipart(
            request.headers["content-type"],
            request.stream(),
            dict.fromkeys(names, photo_rule),
            other=_TEXT_PART,
        )
        fields = {
            name: found[0].text()
            for name, found in parts.items()
            if name not in names and found[0].filename is None and found[0].text()
        }
        sent = [name for name in names if parts.get(name)]
        if len(sent) > settings.photos_per_report:
            raise FieldError(sent[-1], f"at most {settings.photos_per_report} photos")
        for name in sent:
            uploads += await check_photos(parts[name], settings, field=name)
    else:
        form = await request.form(max_files=0, max_fields=100)
        fields = {key: value for key, value in form.items() if isinstance(value, str) and value}
    try:
        return model.model_validate(fields), uploads
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_input=False)]
        ) from exc


async def authorise(request: Request, intake: Any, body_key: str) -> str:
    """The client's name, from ``api_key`` in the body or the query string (codeforamerica's
    client sends it there); 403 without a valid key, 429 over the client's rate."""
    key = body_key or request.query_params.get("api_key", "")
    client = await run_in_threadpool(_client, intake.engine, key)
    if client is None:
        raise HTTPException(403, "api_key missing, unknown or revoked")
    settings = intake.settings
    limits = [
        *per_minute(settings.open311_rate_limit_per_minute),
        *(burst(settings.rate_limit_burst * 10) if settings.open311_rate_limit_per_minute else []),
    ]
    wait = await admit_or_pass(request.app.state.limiter, limits, "open311", client)
    if wait:
        raise too_many(wait, "requests")
    return client


def _client(engine: Any, key: str) -> str | None:
    with Session(engine) as session:
        return client_for(session, key)
