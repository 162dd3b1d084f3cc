"""A bound on every request body, checked before and while it is read."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intake.errors import FieldError
from intake.open311.edges import format_of
from intake.open311.render import errors


class BodyLimit:
    """Refuse bodies larger than their kind allows: multipart (photos) or anything else (JSON,
    Open311's form-encoded posts). A declared Content-Length over the limit is answered 413 at
    once; a body that grows past it while streaming stops there."""

    def __init__(self, app: ASGIApp, *, multipart_bytes: int, other_bytes: int) -> None:
        self.app = app
        self.multipart_bytes = multipart_bytes
        self.other_bytes = other_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        limit = self.multipart_bytes if "multipart/" in content_type else self.other_bytes
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(scope, send, int(declared), limit)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _error(seen, limit)
            return message

        await self.app(scope, limited, send)


def _error(size: int, limit: int) -> FieldError:
    return FieldError(
        "body",
        f"request body of {size:,} bytes or more is larger than the {limit:,} bytes accepted",
        kind="body_too_large",
        status=413,
    )


async def _too_large(scope: Scope, send: Send, size: int, limit: int) -> None:
    error = _error(size, limit)
    body = json.dumps({"detail": error.detail()}).encode()
    content_type = b"application/json"
    if scope["path"].startswith("/open311/"):  # the standard's error document, in its format
        answer = errors(format_of(scope["path"]), 413, [f"body: {error.message}"])
        body, content_type = bytes(answer.body), answer.headers["content-type"].encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
