"""Open311 at the edge of the application: what no route handler sees.

An unknown path or method under ``/open311/`` still answers the standard's error document in the
format the path names; ``HEAD`` answers every GET route; browser pages from the origins of a
setting may read the GET routes (CORS); and the OpenAPI document lists the status codes and
media types these routes really answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intake.open311.render import errors

PREFIX = "/open311/"


def format_of(path: str) -> str:
    """The format a path asks for: XML for ``.xml``, JSON otherwise.

    >>> format_of("/open311/v2/requests.xml"), format_of("/open311/v2/nowhere")
    ('xml', 'json')
    """
    return "xml" if path.endswith(".xml") else "json"


async def not_routed(request: Request, exc: Exception) -> Response:
    """404 for an unknown path and 405 for a method no route takes: under ``/open311/``, the
    standard's error document; elsewhere, FastAPI's own answer."""
    assert isinstance(exc, HTTPException)
    if not request.url.path.startswith(PREFIX):
        return await http_exception_handler(request, exc)
    fmt = format_of(request.url.path)
    status = exc.status_code
    if status == 404:
        text = f"{request.url.path} is not an Open311 resource of this endpoint"
    elif status == 405:
        text = f"{request.method} is not allowed on {request.url.path}"
    else:
        text = str(exc.detail)
    headers = dict(exc.headers or {})
    return errors(fmt, status if status in (404, 405) else 400, [text], headers)


class Open311Head:
    """``HEAD`` on the Open311 GET routes: the GET's status and headers, without the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "HEAD"
            or not scope["path"].startswith(PREFIX)
        ):
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


class Open311Cors:
    """CORS on the Open311 GET routes for the origins listed in a setting; other routes and
    methods pass untouched (a browser page never submits with a client's api_key)."""

    def __init__(self, app: ASGIApp, *, origins: Sequence[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app, allow_origins=list(origins), allow_methods=["GET", "HEAD"], max_age=3600
        )
        self.enabled = bool(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.enabled
            and scope["type"] == "http"
            and scope["path"].startswith(PREFIX)
            and scope["method"] in ("GET", "HEAD", "OPTIONS")
        ):
            await self.cors(scope, receive, send)
            return
        await self.app(scope, receive, send)


_ERROR_DOC: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["code", "description"],
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
    },
}
_MEDIA = {
    "text/xml": {"schema": {"type": "string", "description": "The standard's XML document"}},
    "application/json": {"schema": {}},
}
_ERRORS = {
    "400": "A field is missing or wrong; the description names it",
    "403": "api_key missing, unknown or revoked",
    "404": "No such service, request or jurisdiction",
    "413": "The body or its photo is too large",
    "429": "Too many requests from this client; see Retry-After",
    "503": "A service this endpoint needs is away; try again (see Retry-After)",
}
# Which refusals each operation can give, besides 400, 404 (the format, or the jurisdiction)
# and 503 (the database away), which every one can.
_OPERATION_ERRORS = {
    ("post", "/open311/v2/requests.{fmt}"): ("403", "413", "429"),
    ("post", "/open311/v2/servicerequestupdates.{fmt}"): ("403", "413", "429"),
}


def document_open311(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with each Open311 operation's real answers: 200 (201 for a new
    request or update) in XML and JSON, and the standard's error document for each refusal,
    instead of FastAPI's 422, which these routes never answer."""
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith(PREFIX):
            continue
        for method, operation in operations.items():
            answers = operation.setdefault("responses", {})
            answers.pop("422", None)
            ok = answers.pop("200", {"description": "Successful Response"})
            ok_content = {"text/xml": _MEDIA["text/xml"], **_json(ok)}
            answers["200"] = {"description": ok.get("description", "OK"), "content": ok_content}
            if method == "post":
                answers["201"] = {"description": "Created", "content": ok_content}
            for code in ("400", "404", "503", *_OPERATION_ERRORS.get((method, path), ())):
                answers[code] = {
                    "description": _ERRORS[code],
                    "content": {
                        "text/xml": _MEDIA["text/xml"],
                        "application/json": {"schema": _ERROR_DOC},
                    },
                }
    return schema


def _json(answer: dict[str, Any]) -> dict[str, Any]:
    found = answer.get("content", {}).get("application/json")
    return {"application/json": found or _MEDIA["application/json"]}
