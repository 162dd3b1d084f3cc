"""Notices of status changes owed to residents, one row per event and recipient."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from urbangrid.core.columns import UTCDateTime, utcnow


class Notification(SQLModel, table=True):
    """A status change of ``followed_case_id`` to tell the reporter of ``case_id``.

    The two differ when the resident's report joined another case as a duplicate. The unique
    pair (event, recipient) makes collecting notices safe to run twice.
    """

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint("event_id", "case_id", name="uq_notification_event_case"),
        Index("ix_notification_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="case_events.id", ondelete="CASCADE")
    case_id: int = Field(foreign_key="cases.id", ondelete="CASCADE")
    followed_case_id: int = Field(foreign_key="cases.id", ondelete="CASCADE")
    channel: str = Field(max_length=16)
    status: str = Field(default="pending", max_length=8)  # pending | sent | failed
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_error: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
