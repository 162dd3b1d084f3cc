"""Photos residents and staff attach to cases, kept by content hash."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from urbangrid.core.columns import UTCDateTime, utcnow


class Photo(SQLModel, table=True):
    """One uploaded photo: its raw upload until the media worker has made the stored copy.

    The raw upload (``raw_key``) still carries its EXIF, GPS included, so it is never served and
    is deleted once the stripped, rotated and shrunk copy (``digest``) is stored.
    """

    __tablename__ = "photo"
    __table_args__ = (
        Index("ix_photo_case", "case_id", "id"),
        Index("ix_photo_digest", "digest"),
        Index("ix_photo_pending", "state", "published_at"),
        Index("ix_photo_public_digest", "public_digest"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", ondelete="CASCADE")
    event_id: int | None = Field(default=None, foreign_key="case_events.id")
    # before: the resident's (or the supervisor's) report; after: the department's proof of work.
    kind: str = Field(default="before", max_length=8)
    state: str = Field(default="pending", max_length=10)  # pending | ready | rejected
    raw_key: str | None = Field(default=None, max_length=200)
    raw_sha256: str = Field(max_length=64)
    raw_format: str = Field(max_length=8)
    raw_bytes: int
    # The photo's own location from its EXIF, read before the metadata was stripped.
    gps_lat: float | None = None
    gps_lon: float | None = None
    digest: str | None = Field(default=None, max_length=64)
    width: int | None = None
    height: int | None = None
    error: str = Field(default="", max_length=500)
    # Staff may hide a photo (a face, a number plate): it is then never served publicly.
    hidden: bool = False
    # The copy residents and Open311 see: the stored copy with ``redactions`` covered. Empty
    # while nothing is covered (the stored copy is then the public one); the stored copy
    # itself is kept for staff in scope.
    public_digest: str | None = Field(default=None, max_length=64)
    # Rectangles covered on the public copy, as JSON [[left, top, right, bottom], ...] in the
    # stored copy's pixels.
    redactions: str = Field(default="[]", sa_type=Text)
    # Faces and plates the detector found on the stored copy, blurred on the public one, as
    # JSON [{"kind": "face"|"plate", "box": [left, top, right, bottom], "score": 0.93}, ...];
    # ``detector`` names its version (empty: never run, or blurring was off), so a later
    # detector re-runs over the photos another version saw.
    detections: str = Field(default="[]", sa_type=Text)
    detector: str | None = Field(default=None, max_length=64)
    detected_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
