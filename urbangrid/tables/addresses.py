"""The city's address points (门牌/地址库): where an address is, for reports without a pin."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from urbangrid.columns import UTCDateTime, utcnow


class Address(SQLModel, table=True):
    """One address and its point in WGS84, as the city's address library gives it."""

    __tablename__ = "address_points"

    id: int | None = Field(default=None, primary_key=True)
    # The address library's own id (Open311's address_id), or one derived from the address.
    ref: str = Field(max_length=100, unique=True)
    address: str = Field(max_length=500)
    # The address as geo.gazetteer.normalise writes it: one row per address.
    key: str = Field(max_length=500, unique=True)
    lon: float
    lat: float
    input_crs: str = Field(default="wgs84", max_length=8)
    # The file's other columns, as JSON text.
    extra: str = Field(default="{}", sa_type=Text)
    imported_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
