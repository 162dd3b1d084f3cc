"""What every Open311 route shares: the standard's error document for every refusal, the path
and query parameters, the jurisdiction, request ids, time windows and the documents' context.

Errors are the standard's: a list of ``{code, description}`` with 404 for an unknown
resource, 403 for a bad or missing ``api_key`` and 400 for the rest, in the format the path
asked for, whatever part of the stack refused the request.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlmodel import Session
from starlette.responses import Response

from intake.deps import IntakeDep
from intake.errors import FieldError
from intake.open311 import views
from intake.open311.edges import format_of
from intake.open311.render import errors
from urbangrid.core.tables import Case
from urbangrid.domain.bounds import parse_case_id

MAX_SPAN = timedelta(days=90)
MAX_ROWS = 1000


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ())[1:]) or "request"
    return f"{where}: {error.get('msg', 'invalid')}"


class Open311Route(APIRoute):
    """Every refusal in the standard's error document, in the format the path names."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            fmt = format_of(request.url.path)
            try:
                return await handle(request)
            except RequestValidationError as exc:
                return errors(fmt, 400, [_describe(e) for e in exc.errors()])
            except FieldError as exc:
                status = exc.status if exc.status in (404, 413, 415, 429) else 400
                return errors(fmt, status, [f"{exc.field}: {exc.message}"])
            except HTTPException as exc:
                status = exc.status_code if exc.status_code in (403, 404, 429, 503) else 400
                return errors(fmt, status, [str(exc.detail)], exc.headers)

        return guarded


Fmt = Annotated[Literal["xml", "json"], Path(description="xml (the standard's) or json")]
Lang = Annotated[str, Query(pattern="^(zh|en)$", description="Language of names: zh or en")]
Jurisdiction = Annotated[str | None, Query(max_length=200)]
PageSize = Annotated[int, Query(ge=1, le=MAX_ROWS)]


def check_jurisdiction(given: str | None, served: str) -> None:
    """404 for a ``jurisdiction_id`` other than the one this endpoint serves (any, when unset)."""
    if served and given and given != served:
        raise HTTPException(404, f"jurisdiction_id {given!r} is not served here")


def _served_here(intake: IntakeDep, jurisdiction_id: Jurisdiction = None) -> None:
    check_jurisdiction(jurisdiction_id, intake.settings.open311_jurisdiction_id)


# The ``jurisdiction_id`` query parameter of every GET route, checked before the route runs.
SERVED_HERE = Depends(_served_here)


def request_id(text: str) -> int | None:
    """A request's id, or None for text that names none (``²``, ``①``, 4,301 digits, 0).

    >>> request_id("42"), request_id("²"), request_id("9" * 5000), request_id("0")
    (42, None, None, None)
    """
    try:
        return parse_case_id(text)
    except ValueError:
        return None


def check_window(start: datetime, end: datetime) -> None:
    """Refuse a time window that ends before it starts or spans more than ``MAX_SPAN``."""
    if end < start:
        raise FieldError("end_date", "is before start_date")
    if end - start > MAX_SPAN:
        raise FieldError("end_date", "the window may not span more than 90 days")


def context(
    session: Session, intake: Any, cases: list[Case], *, lang: str, extensions: bool
) -> views.Context:
    """What the documents of ``cases`` need besides the rows: names, photos, links, time zone."""
    return views.load_context(
        session,
        cases,
        base_url=intake.settings.public_url,
        tz=ZoneInfo(intake.settings.city_timezone),
        lang=lang,
        extensions=extensions,
    )
