"""SLA clocks: one row per stage clock a case ran, and one for the whole case."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from urbangrid.core.columns import UTCDateTime


class SlaClock(SQLModel, table=True):
    """A clock's inputs (start, limit, extensions, paused time) and what follows from them.

    ``deadline_at`` and ``warn_at`` are recomputed from the inputs whenever they change;
    ``next_at`` is when the sweep must look at the clock next (NULL when stopped, paused or
    done), so the sweep is one range scan of one index. Stopped clocks stay as the record of
    how each stage went.
    """

    __tablename__ = "sla_clock"
    __table_args__ = (
        Index("ix_sla_clock_next_at", "next_at"),
        Index("ix_sla_clock_case", "case_id", "stage"),
        # The evaluation per role: clocks due or stopped in a period.
        Index("ix_sla_clock_deadline_at", "deadline_at"),
        Index("ix_sla_clock_stopped_at", "stopped_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", ondelete="CASCADE")
    stage: str = Field(max_length=16)  # file | dispatch | handle | check | case
    started_at: datetime = Field(sa_type=UTCDateTime)
    limit: str = Field(max_length=64)  # e.g. 4wh, or a chain 1wh+1wh+4wh+1wd
    extended: str = Field(default="", max_length=200)  # extensions granted, e.g. 1wd+2wh
    paused_s: float = 0.0
    paused_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    stopped_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Who took the step that stopped the clock: the evaluation per role credits it to them.
    stopped_by: str | None = Field(default=None, max_length=100)
    stopped_role: str | None = Field(default=None, max_length=32)
    step: int = 0
    deadline_at: datetime = Field(sa_type=UTCDateTime)
    warn_at: datetime = Field(sa_type=UTCDateTime)
    next_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Set by the sweep that claimed the clock, so a second sweep does not publish it again.
    leased_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
