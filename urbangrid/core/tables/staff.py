"""Staff accounts and their access tokens; secrets are stored only as hashes."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from urbangrid.core.columns import UTCDateTime, utcnow


class Staff(SQLModel, table=True):
    """A member of the grid staff: one role of the closed loop and one scope."""

    __tablename__ = "staff"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    role: str = Field(max_length=32)
    # "city", "department:CODE" or "grid:PREFIX" (urbangrid.domain.access).
    scope: str = Field(max_length=100)
    password_hash: str | None = Field(default=None, max_length=255)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StaffToken(SQLModel, table=True):
    """A bearer token: from a login (expires) or issued on the command line (until revoked)."""

    __tablename__ = "staff_token"

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", ondelete="CASCADE", index=True)
    # SHA-256 of the token: tokens are long random strings, so a fast hash is enough and lets a
    # request find its token with one indexed lookup.
    token_hash: str = Field(max_length=64, unique=True)
    label: str = Field(default="", max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
