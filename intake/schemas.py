"""What the intake API accepts and answers, one small family of models per concept."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

Crs = Literal["wgs84", "gcj02", "bd09"]

# Case ids are 32-bit database integers: a larger number in a URL names no case, and is answered
# 422 before it reaches a database that would overflow on it.
MAX_CASE_ID = 2**31 - 1
CaseId = Annotated[int, Path(ge=1, le=MAX_CASE_ID, description="The case's id")]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _printable(value: str) -> str:
    """Text may hold line breaks and tabs, never NUL or other control characters (PostgreSQL
    cannot store NUL, and nobody types the others).

    >>> _printable("line one\\nline two")
    'line one\\nline two'
    >>> _printable("a\\x00b")
    Traceback (most recent call last):
    ...
    ValueError: contains a control character (U+0000)
    """
    found = _CONTROL.search(value)
    if found:
        raise ValueError(f"contains a control character (U+{ord(found.group()):04X})")
    return value


Text = Annotated[str, AfterValidator(_printable)]


class ReportCreate(BaseModel):
    """A resident's report: what, where (in the coordinate system their map uses), and a note."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "category": "E0102",
                    "lat": 31.2304,
                    "lon": 121.4737,
                    "crs": "wgs84",
                    "description": "垃圾堆在路边 rubbish piled by the road",
                    "contact": "13800000000",
                }
            ]
        },
    )

    category: str = Field(pattern=r"^[CE]\d{4}$", description="Category code, e.g. E0102")
    lat: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    lon: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    crs: Crs = Field(default="wgs84", description="wgs84 (GPS), gcj02 (Amap/Tencent), bd09 (Baidu)")
    description: Text = Field(default="", max_length=4000)
    contact: Text | None = Field(
        default=None,
        max_length=200,
        description="Phone or e-mail for notices of progress; never shown in public views",
    )
    address: Text | None = Field(
        default=None,
        max_length=500,
        description="Where, in words; without lat/lon, the report is placed at this address "
        "of the city's address list",
    )


class ReportForm(BaseModel):
    """The text fields of a multipart report; lat/lon may be left out when a photo has GPS."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(pattern=r"^[CE]\d{4}$", description="Category code, e.g. E0102")
    lat: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    lon: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    crs: Crs = Field(default="wgs84", description="wgs84 (GPS), gcj02 (Amap/Tencent), bd09 (Baidu)")
    description: Text = Field(default="", max_length=4000)
    contact: Text | None = Field(default=None, max_length=200)
    address: Text | None = Field(default=None, max_length=500)


class ReportAccepted(BaseModel):
    """The stored report's id and the private token its reporter follows it with.

    ``duplicate_of`` names the open case this report joined: the same problem was already
    reported nearby, and the reporter now follows that case with the same token.
    """

    id: int
    tracking_token: str
    state: str
    duplicate_of: int | None = None
    photos: list[int] = Field(default_factory=list, description="Ids of the photos received")


class AreaRef(BaseModel):
    code: str
    name: str


class DepartmentRef(BaseModel):
    code: str
    name: str


class EventPublic(BaseModel):
    """A step as anyone may see it: what happened and by which role, never who or their notes.

    A report is readable here by its sequential id alone, so the names of staff, residents'
    ids and staff's internal notes stay out; the reporter reads the full timeline with the
    tracking token (``/api/v1/track/{token}``).
    """

    at: datetime
    action: str
    from_state: str | None
    to_state: str
    role: str


class ReportPublic(BaseModel):
    """A report as the public and its reporter see it."""

    id: int
    state: str
    category: str
    description: str
    lat: float
    lon: float
    created_at: datetime
    grid_version_id: int | None
    district: AreaRef | None
    street: AreaRef | None
    community: AreaRef | None
    cell: AreaRef | None
    department: DepartmentRef | None
    deadline: datetime | None
    events: list[EventPublic]
