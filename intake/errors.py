"""Refusals that name the field at fault, shaped like FastAPI's own validation errors."""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError


class SafeJSONResponse(JSONResponse):
    """JSON that can always be sent: a refusal may quote the client's input, and a JSON body
    may carry a lone surrogate (``"\\udfff"``) that UTF-8 cannot encode."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8", "replace")


def unavailable(message: str, retry_after: int) -> HTTPException:
    """503: the work is refused for now, not the input; the client tries again after the wait."""
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"{message}; try again in {retry_after} s",
        headers={"Retry-After": str(retry_after)},
    )


class FieldError(Exception):
    """Bad input in one field; ``where`` is ``body``, ``header`` or ``query``."""

    def __init__(
        self,
        field: str,
        message: str,
        *,
        kind: str = "value_error",
        status: int = 422,
        where: str = "body",
    ) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.kind, self.status, self.where = (
            field,
            message,
            kind,
            status,
            where,
        )

    def detail(self) -> list[dict[str, object]]:
        loc = [self.where] if self.field == self.where else [self.where, self.field]
        return [{"loc": loc, "msg": self.message, "type": self.kind}]


async def field_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FieldError)
    return SafeJSONResponse({"detail": exc.detail()}, status_code=exc.status)


def _printable(value: object) -> object:
    """A rejected input as JSON can carry it: a binary body (a photo sent where JSON was
    expected) is described, not decoded."""
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return f"<{len(value)} bytes, not text>"
    if isinstance(value, dict):
        return {str(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    return value


async def validation_error_handler(_: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 for a body it validated itself, safe for any bytes the client sent (and
    for a lone surrogate from a JSON escape, which UTF-8 cannot encode)."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {**error, "input": _printable(error["input"])} if "input" in error else error
        for error in exc.errors()
    ]
    return SafeJSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


def body_errors(exc: ValidationError, where: str = "body") -> RequestValidationError:
    """Pydantic's errors on a body read by hand, located the way FastAPI locates its own."""
    return RequestValidationError(
        [
            {
                "loc": (where, *error["loc"]),
                "msg": error["msg"],
                "type": error["type"],
            }
            for error in exc.errors(include_url=False, include_input=False)
        ]
    )
