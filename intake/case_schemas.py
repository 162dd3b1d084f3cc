"""What the staff API accepts and answers about cases."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from intake.bounds import Text
from intake.schemas import AreaRef, DepartmentRef


class ActionBody(BaseModel):
    """What an action carries; each action names the fields it needs (a 422 says which).

    ``note`` and ``reason`` are internal: staff in scope read them, residents and Open311 never
    do. ``public_note`` is published with the step, next to its standard wording."""

    model_config = ConfigDict(extra="forbid")

    note: Text = Field(default="", max_length=4000, description="Internal note")
    reason: Text | None = Field(
        default=None,
        max_length=2000,
        description="Internal reason: return, void, check_fail, deny_*, requests, reopen",
    )
    public_note: Text = Field(
        default="", max_length=2000, description="For the resident and Open311 clients"
    )
    department: Text | None = Field(
        default=None,
        max_length=64,
        description="dispatch, redispatch, reroute: default is the rule's suggestion",
    )
    by: Text | None = Field(
        default=None,
        max_length=16,
        description="request_extension, extend: e.g. 1wd, 4wh (extend: default is the request)",
    )
    photos: list[Annotated[Text, StringConstraints(min_length=1, max_length=500)]] = Field(
        default_factory=list,
        max_length=20,
        description="handle (after-photo, required), checks, comment: photo:N of photos stored "
        "for this case (or upload them with the step as multipart)",
    )
    category: str | None = Field(
        default=None, pattern=r"^[CE]\d{4}$", description="file (sets the class), recategorize"
    )


class Suggestion(BaseModel):
    department: str | None
    rule_id: int | None
    scope: str | None
    returned_by: list[str]


class ClockPublic(BaseModel):
    stage: str
    started_at: datetime
    limit: str
    extended: str
    paused_s: float
    paused: bool
    stopped_at: datetime | None
    warn_at: datetime
    deadline_at: datetime
    status: str  # running, at_risk, overdue, paused, met, late


class StaffEvent(BaseModel):
    id: int
    at: datetime
    action: str
    from_state: str | None
    to_state: str
    actor: str
    role: str
    note: str = Field(description="Internal")
    public_note: str = Field(description="Published with the step")
    detail: dict[str, Any]


class PhotoRef(BaseModel):
    """A photo of the case (or of a report that joined it), as staff see it."""

    id: int
    ref: str = Field(description="Name it in a step's photos, e.g. photo:12")
    kind: str  # before | after
    state: str  # pending | ready | rejected
    action: str | None = Field(description="The step it was taken with")
    at: datetime
    hidden: bool
    redactions: list[list[int]] = Field(description="Rectangles covered on the public copy")
    url: str | None = Field(description="The stored copy, for staff in scope")
    public_url: str | None = Field(description="The copy the public sees; none when not shown")


class CaseSummary(BaseModel):
    """A case in a work queue."""

    id: int
    state: str
    stage: str | None
    category: str
    department: str | None
    l2_code: str | None
    l4_code: str | None
    created_at: datetime
    stage_deadline_at: datetime | None
    deadline_at: datetime | None
    escalation_level: int
    escalated_to: str | None
    flag: str | None
    pending_request: str | None
    near_boundary: bool = Field(
        description="Reported within the boundary margin of its street: confirm or move it"
    )
    neighbour: str | None = Field(description="The neighbouring street (L2 code) named")


class CasePage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[CaseSummary]


class CaseDetail(CaseSummary):
    """A case with its areas, clocks, timeline and photos, and what the caller may do now."""

    description: str
    lat: float
    lon: float
    district: AreaRef | None
    street: AreaRef | None
    community: AreaRef | None
    cell: AreaRef | None
    neighbour_street: AreaRef | None = Field(
        description="The street a near-boundary report may belong to, with its name"
    )
    department_ref: DepartmentRef | None
    case_deadline_at: datetime | None
    filed_at: datetime | None
    dispatched_at: datetime | None
    handled_at: datetime | None
    closed_at: datetime | None
    rework_count: int
    return_count: int
    extension_count: int
    reopen_count: int
    allowed_actions: list[str]
    suggestion: Suggestion | None
    clocks: list[ClockPublic]
    timeline: list[StaffEvent]
    photos: list[PhotoRef]
