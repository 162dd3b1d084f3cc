"""What the evaluation reads instead of the wide ``cases`` table, kept by a refresher.

``metric_case_facts`` holds one narrow row per case: the local days (in the city's time zone)
of the moments the measures compare, and the flags they count. ``metric_event_facts`` holds the
dispatches, returns and ratings, each with its day, the department that held the case then and
the case's grid and category codes. ``metric_rollups`` sums the facts per department, day and
kind, so a department's year is a few thousand rows. ``metric_dirty_cases`` is filled by
database triggers whenever a case or one of its counted events is written: the refresher folds
those cases in, and readers overlay them, so a figure never lags behind the cases.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from urbangrid.core.columns import UTCDateTime


class MetricCaseFacts(SQLModel, table=True):
    """One case as the measures see it; day columns are NULL where the case does not count."""

    __tablename__ = "metric_case_facts"
    __table_args__ = (
        # A period is read through the day it touches: received, filed, due, closed, handled.
        Index("ix_metric_case_facts_created_day", "created_day"),
        Index("ix_metric_case_facts_filed_day", "filed_day"),
        Index("ix_metric_case_facts_deadline_day", "deadline_day"),
        Index("ix_metric_case_facts_closed_day", "closed_day"),
        Index("ix_metric_case_facts_handling_deadline_day", "handling_deadline_day"),
        Index("ix_metric_case_facts_handled_day", "handled_day"),
    )

    case_id: int = Field(primary_key=True)
    department_code: str | None = Field(default=None, max_length=64)
    l1_code: str | None = Field(default=None, max_length=32)
    l2_code: str | None = Field(default=None, max_length=32)
    l3_code: str | None = Field(default=None, max_length=32)
    l4_code: str | None = Field(default=None, max_length=32)
    category_code: str | None = Field(default=None, max_length=32)
    created_day: int
    filed_day: int | None = None
    extended: int = 0
    deadline_day: int | None = None
    # The whole case's deadline itself: a running period judges today's deadlines to the minute.
    deadline_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_day: int | None = None
    closed_on_time: int = 0
    reopened: int = 0
    handling_deadline_day: int | None = None
    handled_day: int | None = None
    handled_on_time: int = 0
    reworked: int = 0
    handling_seconds: float | None = None


class MetricEventFacts(SQLModel, table=True):
    """A dispatch, return or rating, with the codes of its case as the measures group them."""

    __tablename__ = "metric_event_facts"
    __table_args__ = (
        Index("ix_metric_event_facts_day", "day"),
        Index("ix_metric_event_facts_case", "case_id"),
    )

    event_id: int = Field(primary_key=True)
    case_id: int
    kind: int  # urbangrid.evaluation.days.EventKind
    day: int
    department_code: str | None = Field(default=None, max_length=64)
    score: float | None = None
    l1_code: str | None = Field(default=None, max_length=32)
    l2_code: str | None = Field(default=None, max_length=32)
    l3_code: str | None = Field(default=None, max_length=32)
    l4_code: str | None = Field(default=None, max_length=32)
    category_code: str | None = Field(default=None, max_length=32)


class MetricRollup(SQLModel, table=True):
    """How many cases (or events) of a department share one combination of days and flags.

    Keys are never NULL (an empty department code, ``NO_DAY``, a score of -1 stand for none) so
    that the unique key lets the refresher add and subtract counts in place.
    """

    __tablename__ = "metric_rollups"
    __table_args__ = (
        Index(
            "ux_metric_rollups_key",
            "department_code",
            "kind",
            "day1",
            "day2",
            "flags",
            "score",
            unique=True,
        ),
        Index("ix_metric_rollups_day1", "day1"),
        Index("ix_metric_rollups_day2", "day2"),
    )

    id: int | None = Field(default=None, primary_key=True)
    department_code: str = Field(max_length=64)
    kind: int  # urbangrid.evaluation.days.RollupKind
    day1: int
    day2: int
    flags: int
    score: float
    n: int
    seconds: float = 0.0


class MetricDirtyCase(SQLModel, table=True):
    """A case written since the refresher last folded it in (appended by database triggers)."""

    __tablename__ = "metric_dirty_cases"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int


class MetricRollupState(SQLModel, table=True):
    """The one row saying whether the facts are built, in which time zone, and when."""

    __tablename__ = "metric_rollup_state"

    id: int = Field(default=1, primary_key=True)
    timezone: str | None = Field(default=None, max_length=64)
    built_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    refreshed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MetricSummaryPeriod(SQLModel, table=True):
    """A month, quarter, year or rolling window whose summaries are built and kept up to date."""

    __tablename__ = "metric_summary_periods"

    first_day: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    end_day: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})


class MetricClockFacts(SQLModel, table=True):
    """One running or stopped (not paused) stage clock as the evaluation per role sees it.

    Kept so that the refresher can take back what a written case's clocks contributed to
    ``metric_step_rollups`` before they changed.
    """

    __tablename__ = "metric_clock_facts"
    __table_args__ = (Index("ix_metric_clock_facts_case", "case_id"),)

    clock_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    case_id: int
    department_code: str | None = Field(default=None, max_length=64)  # the case's, now
    stage: str = Field(max_length=16)
    stopped_role: str | None = Field(default=None, max_length=32)
    stopped_by: str | None = Field(default=None, max_length=100)
    deadline_day: int
    stopped_day: int | None = None
    on_time: int = 0  # stopped at or before its deadline
    seconds: float | None = None  # from start to stop


class MetricStepRollup(SQLModel, table=True):
    """How many stage clocks share a department, stage, stopper, deadline day, stop day and
    on-time flag, and their seconds: the evaluation per role of a year in a few thousand rows.

    Keys are never NULL ("" for no one, ``NO_DAY`` for not stopped), as in ``metric_rollups``.
    """

    __tablename__ = "metric_step_rollups"
    __table_args__ = (
        Index(
            "ux_metric_step_rollups_key",
            "department_code",
            "stage",
            "stopped_role",
            "stopped_by",
            "day1",
            "day2",
            "on_time",
            unique=True,
        ),
        Index("ix_metric_step_rollups_day1", "day1"),
        Index("ix_metric_step_rollups_day2", "day2"),
    )

    id: int | None = Field(default=None, primary_key=True)
    department_code: str = Field(max_length=64)
    stage: str = Field(max_length=16)
    stopped_role: str = Field(max_length=32)
    stopped_by: str = Field(max_length=100)
    day1: int  # the deadline's day
    day2: int  # the stop's day, or NO_DAY
    on_time: int
    n: int
    seconds: float = 0.0
