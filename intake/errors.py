"""Refusals that name the field at fault, shaped like FastAPI's own validation errors."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
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


async def validation_error_handler(_: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own 422, sent safely whatever input it quotes."""
    assert isinstance(exc, RequestValidationError)
    return SafeJSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)


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
