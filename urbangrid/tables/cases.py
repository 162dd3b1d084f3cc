"""Cases and their append-only event log."""

from __future__ import annotations

from datetime import datetime

from shapely.geometry.base import BaseGeometry
from sqlalchemy import Column, Index, Text, text
from sqlmodel import Field, SQLModel

from urbangrid.columns import UTCDateTime, utcnow
from urbangrid.domain.states import OPEN_STATES, CaseState
from urbangrid.spatial import Geometry

# Open cases that are not themselves duplicates: what a new report may join. The duplicate search
# repeats these words so that PostgreSQL and SQLite can use the partial index below.
OPEN_NOT_DUPLICATE = (
    "duplicate_of IS NULL AND state IN ("
    + ", ".join(f"'{state}'" for state in sorted(OPEN_STATES))
    + ")"
)


class Case(SQLModel, table=True):
    """A resident's report and everything the pipeline decided about it."""

    __tablename__ = "cases"
    __table_args__ = (
        # The relay's query: reports stored but never routed.
        Index("ix_cases_unrouted", "state", "published_at"),
        Index("ix_cases_state_deadline", "state", "deadline_at"),
        # Intake's duplicate search: open cases only, so it stays small (intake/duplicates.py).
        Index(
            "ix_cases_open_nearby",
            "category_code",
            "lat",
            sqlite_where=text(OPEN_NOT_DUPLICATE),
            postgresql_where=text(OPEN_NOT_DUPLICATE),
        ),
        # The reports that joined a case; partial, so the many that joined none cost nothing.
        Index(
            "ix_cases_duplicate_of",
            "duplicate_of",
            sqlite_where=text("duplicate_of IS NOT NULL"),
            postgresql_where=text("duplicate_of IS NOT NULL"),
        ),
    )
    model_config = {"arbitrary_types_allowed": True}

    id: int | None = Field(default=None, primary_key=True)
    tracking_token: str = Field(max_length=64, unique=True)
    category_code: str = Field(foreign_key="category.code", index=True)
    description: str = Field(default="", sa_type=Text)
    # Where the resident said, in the coordinate system they gave, and the WGS84 point stored.
    input_crs: str = Field(max_length=8)
    input_lat: float
    input_lon: float
    lat: float
    lon: float
    location: BaseGeometry | None = Field(default=None, sa_column=Column(Geometry("POINT")))
    state: str = Field(default=CaseState.REPORTED, max_length=16)
    grid_version_id: int | None = Field(default=None, foreign_key="grid_version.id")
    l1_code: str | None = Field(default=None, max_length=32, index=True)
    l2_code: str | None = Field(default=None, max_length=32, index=True)
    l3_code: str | None = Field(default=None, max_length=32)
    l4_code: str | None = Field(default=None, max_length=32)
    department_code: str | None = Field(default=None, foreign_key="department.code", index=True)
    routing_rule_id: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deadline_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    routed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    publish_attempts: int = 0
    # Milestones and counters of the closed loop, kept by the step that records the event, so
    # queues and metrics read columns instead of replaying logs. The events stay the truth.
    filed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    dispatched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    handled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    rework_count: int = 0
    return_count: int = 0
    extension_count: int = 0
    reopen_count: int = 0
    escalation_level: int = 0
    # Intake (residents' channel): where the report came from and who to tell, never shown in
    # public views; a report that joined an open case as its duplicate follows that case.
    channel: str = Field(default="api", max_length=16)  # web | api | open311
    client_id: str | None = Field(default=None, max_length=100)
    contact: str | None = Field(default=None, max_length=200)
    address: str | None = Field(default=None, max_length=500)
    media_url: str | None = Field(default=None, max_length=1000)
    duplicate_of: int | None = Field(default=None, foreign_key="cases.id")
    # The SLA clocks (tables/sla.py), mirrored for queues and metrics. ``deadline_at`` above is
    # the handling deadline (处置时限) of the current or last department: set on dispatch, moved
    # by an approved extension and by the working time spent suspended, never reset by rework.
    stage: str | None = Field(default=None, max_length=16)
    stage_deadline_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    case_deadline_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The grid code the case was last escalated to (督办), e.g. its street, then its district.
    escalated_to: str | None = Field(default=None, max_length=32, index=True)
    # Raised for the shift lead, e.g. "ping_pong" after repeated returns between departments.
    flag: str | None = Field(default=None, max_length=32)
    # A department's request waiting for the shift lead: "extension" or "suspension".
    pending_request: str | None = Field(default=None, max_length=16)
    # The neighbouring street (L2 code) when the report lies within the boundary margin of its
    # own: routed as usual, kept here until a dispatcher confirms the street or moves it there.
    near_boundary: str | None = Field(default=None, max_length=32)


class CaseEvent(SQLModel, table=True):
    """One step of a case's history; rows are only ever appended."""

    __tablename__ = "case_events"
    __table_args__ = (
        Index("ix_case_events_case", "case_id", "id"),
        # Notices and Open311's servicerequestupdates read recent events by time.
        Index("ix_case_events_at", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", ondelete="CASCADE")
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    action: str = Field(max_length=32)
    from_state: str | None = Field(default=None, max_length=16)
    to_state: str = Field(max_length=16)
    actor: str = Field(max_length=100)
    role: str = Field(max_length=32)
    note: str = Field(default="", sa_type=Text)
    # Structured detail of an automated step: the rule, the grid version, the time limit used.
    detail: str = Field(default="{}", sa_type=Text)
    # The department answerable for the case once this step was taken (metrics attribute
    # dispatches, returns and ratings to it).
    department_code: str | None = Field(default=None, max_length=64)
