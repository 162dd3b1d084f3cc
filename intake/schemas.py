"""What the intake API accepts and answers, one small family of models per concept."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from intake.bounds import Text

Crs = Literal["wgs84", "gcj02", "bd09"]


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
    name_en: str = Field(description="In English; the Chinese name when it has no other")


class EventPublic(BaseModel):
    """A step as anyone may see it: what happened and by which role, never who or their notes.

    A report is readable here by its sequential id alone, so the names of staff, residents'
    ids and staff's internal notes stay out: these are the case's public steps, with the
    standard wording and the staff's public note; the reporter reads their own comments too
    with the tracking token (``/api/v1/track/{token}``).
    """

    at: datetime
    action: str
    from_state: str | None
    to_state: str
    text_zh: str
    text_en: str
    public_note: str


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
