"""Idempotency keys: a retried submit finds the case its first attempt made."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from urbangrid.core.columns import UTCDateTime, utcnow


class IdempotencyKey(SQLModel, table=True):
    """One client's key, written in the same transaction as the case it made.

    The primary key makes a second insert of the same (client, key) fail, so of ten parallel
    retries exactly one stores a case and the others read it back.
    """

    __tablename__ = "idempotency_key"

    client_id: str = Field(primary_key=True, max_length=100)
    key: str = Field(primary_key=True, max_length=128)
    # A hash of what was submitted: the same key with another report is the client's mistake.
    fingerprint: str = Field(max_length=64)
    case_id: int = Field(foreign_key="cases.id", ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
