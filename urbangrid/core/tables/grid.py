"""The grid: versions, and the areas of each level."""

from __future__ import annotations

from datetime import datetime

from shapely.geometry.base import BaseGeometry
from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from urbangrid.core.columns import UTCDateTime, utcnow
from urbangrid.core.spatial import Geometry


class GridVersion(SQLModel, table=True):
    """One imported or generated edition of the four-level grid; one of them is active."""

    __tablename__ = "grid_version"

    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    is_active: bool = Field(default=False, index=True)


class GridArea(SQLModel, table=True):
    """A district, street, community or base cell of one grid version."""

    __tablename__ = "grid_area"
    __table_args__ = (
        UniqueConstraint("version_id", "code", name="uq_grid_area_version_code"),
        Index("ix_grid_area_version_level", "version_id", "level"),
    )
    model_config = {"arbitrary_types_allowed": True}

    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="grid_version.id", ondelete="CASCADE")
    level: int = Field(ge=1, le=4)
    code: str = Field(max_length=32)
    name: str = Field(max_length=200)
    parent_code: str | None = Field(default=None, max_length=32)
    # The area's identifier in the file it came from, when that is not an urbangrid code.
    source_id: str | None = Field(default=None, max_length=64)
    geom: BaseGeometry = Field(sa_column=Column(Geometry("MULTIPOLYGON"), nullable=False))
