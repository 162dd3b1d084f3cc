"""Keys of the systems allowed to submit through Open311 (311 apps, FixMyStreet, hotlines)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from urbangrid.core.columns import UTCDateTime, utcnow


class ApiKey(SQLModel, table=True):
    """A client's key, stored as its SHA-256 only; the key itself is shown once, at creation."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    key_hash: str = Field(max_length=64, unique=True)
    # The first characters, so that an operator can tell keys apart without seeing them.
    prefix: str = Field(max_length=12)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
