"""Where a reading counts from: the facts, rollups and summaries as they were last built, with
the cases written since then taken live in the same statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    literal_column,
    select,
    union_all,
)
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session

from urbangrid.domain.daynumbers import day_number
from urbangrid.evaluation.contributions import (
    contributions,
    dirty_cases,
    dirty_sources,
    event_facts_select,
    facts_select,
)
from urbangrid.evaluation.formulas import Period
from urbangrid.evaluation.refresh import built_timezone
from urbangrid.evaluation.rollup_tables import EVENT_FACTS, FACTS, ROLLUP_KEY, ROLLUPS
from urbangrid.evaluation.scope import CASES, EVENTS

# ---------------------------------------------------------------------------------------------
# Counting from the refresher's facts and rollups


@dataclass(frozen=True)
class _Reading:
    period: Period
    days: tuple[int, int]  # the period as local days [first, end)
    tz: ZoneInfo
    zone: str
    now: datetime
    pending: bool  # cases written since the last refresh, to be taken live

    @property
    def running(self) -> bool:
        return self.now < self.period.end

    @property
    def today(self) -> int:
        return day_number(self.now, self.tz)


def rollup_zone(session: Session) -> str | None:
    return built_timezone(session)


def facts_source(reading: _Reading) -> Any:
    """The per-case facts, with the cases written since the last refresh taken live."""
    if not reading.pending:
        return FACTS
    kept = select(*FACTS.c).where(FACTS.c.case_id.notin_(dirty_cases()))
    fresh = facts_select(reading.zone, CASES.id.in_(dirty_cases()))
    return union_all(kept, fresh).subquery("facts")


def event_facts_source(reading: _Reading) -> Any:
    if not reading.pending:
        return EVENT_FACTS
    kept = select(*EVENT_FACTS.c).where(EVENT_FACTS.c.case_id.notin_(dirty_cases()))
    fresh = event_facts_select(reading.zone, EVENTS.case_id.in_(dirty_cases()))
    return union_all(kept, fresh).subquery("event_facts")


def zero(name: str) -> ColumnElement[Any]:
    return literal_column("0.0" if name == "handling_seconds" else "0")


def rollups_source(reading: _Reading) -> Any:
    """The rollups, corrected by what the cases written since the last refresh add and take."""
    if not reading.pending:
        return ROLLUPS
    dirty = dirty_sources(reading.zone)
    return union_all(
        select(*(ROLLUPS.c[name] for name in (*ROLLUP_KEY, "n", "seconds"))),
        *contributions(dirty.new_facts, dirty.new_events, 1),
        *contributions(dirty.old_facts, dirty.old_events, -1),
    ).subquery("rollups")


def _number(value: int) -> ColumnElement[Any]:
    """An integer written into the SQL, typed like a column (see urbangrid.evaluation.refresh)."""
    return literal_column(str(int(value)))
