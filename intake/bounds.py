"""The API's bounded types: every number, date and text a route reads from a request.

Routes take these instead of bare ``int``/``str``, so a value outside what the system can hold
is a 422 (Open311: the standard's 400) naming the field, decided here once, never a 500 from
deep inside the database or ``datetime``. The rules themselves are ``urbangrid.domain.bounds``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, StringConstraints

from intake.errors import FieldError
from urbangrid.domain import bounds
from urbangrid.domain.bounds import MAX_CASE_ID, MAX_OFFSET


def storable(value: str) -> str:
    """Text may hold line breaks and tabs, never NUL, other control characters or anything
    XML 1.0 cannot carry (PostgreSQL cannot store NUL; Open311 lists are XML documents).

    >>> storable("line one\\nline two")
    'line one\\nline two'
    >>> storable("a\\x00b")
    Traceback (most recent call last):
    ...
    ValueError: contains a character that is not allowed (U+0000)
    """
    found = bounds.forbidden_character(value)
    if found:
        raise ValueError(f"contains a character that is not allowed ({found})")
    return value


# Free text a resident or member of staff writes, and every text filter of a query.
Text = Annotated[str, AfterValidator(storable)]
# Why a member of staff took a step, kept on the case's timeline: words, not blanks.
Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
    AfterValidator(storable),
]

CaseId = Annotated[int, Path(ge=1, le=MAX_CASE_ID, description="The case's id")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip")]
Page = Annotated[int, Query(ge=1, le=1_000_000, description="Page number, from 1")]
# Codes of departments, areas and categories: letters, digits, dots, dashes and underscores.
CODE = r"^[\w.-]+$"
Code = Annotated[
    str | None, Query(max_length=64, pattern=CODE, description="A code, e.g. a department's")
]


def case_id(field: str, text: str) -> int:
    """``text`` as a case id, or a 422 naming ``field``."""
    try:
        return bounds.parse_case_id(text)
    except ValueError as exc:
        raise FieldError(field, str(exc), where="query") from None


def case_ids(field: str, text: str | None, *, limit: int) -> list[int]:
    """A comma-separated list of case ids (at most ``limit``), or a 422 naming ``field``."""
    items = [item.strip() for item in (text or "").split(",") if item.strip()]
    if len(items) > limit:
        raise FieldError(field, f"at most {limit} values", where="query")
    return [case_id(field, item) for item in items]


def instant(field: str, text: str | None) -> datetime | None:
    """An optional W3C date-time within the bounds (in UTC), or a 422 naming ``field``."""
    if text is None or text.strip() == "":
        return None
    try:
        return bounds.parse_instant(text)
    except ValueError as exc:
        raise FieldError(field, str(exc), where="query") from None
