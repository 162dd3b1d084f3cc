"""The city's entries in the working-day calendar, on top of the official notice."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from urbangrid.core.columns import UTCDateTime, utcnow


class CalendarDay(SQLModel, table=True):
    """One day declared a working day or a day off, winning over the official calendar."""

    __tablename__ = "calendar_day"

    day: date = Field(primary_key=True)
    is_workday: bool
    note: str = Field(default="", max_length=200)
    entered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CalendarYear(SQLModel, table=True):
    """A year whose holidays the city entered in full: no weekends-only warning for it."""

    __tablename__ = "calendar_year"

    year: int = Field(primary_key=True)
    note: str = Field(default="", max_length=200)
    entered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
