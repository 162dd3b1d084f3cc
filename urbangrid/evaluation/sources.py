"""Where a reading counts from: the facts, rollups and summaries as they were last built, with
the cases written since then taken live in the same statement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Select,
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
from urbangrid.evaluation.days import period_days
from urbangrid.evaluation.formulas import Period
from urbangrid.evaluation.refresh import built_timezone
from urbangrid.evaluation.rollup_tables import DIRTY, EVENT_FACTS, FACTS, ROLLUP_KEY, ROLLUPS
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


def reading_of(
    session: Session, *, period: Period, days: tuple[int, int], zone: str, now: datetime
) -> _Reading:
    """``period`` as the local ``days`` of the refresher's tables, built in ``zone``, noting
    whether cases were written since the last refresh."""
    return _Reading(
        period=period,
        days=days,
        tz=ZoneInfo(zone),
        zone=zone,
        now=now,
        pending=session.execute(select(DIRTY.c.id).limit(1)).first() is not None,
    )


def whole_days_reading(session: Session, period: Period, now: datetime) -> _Reading | None:
    """``period`` as the refresher's tables read it; None when they cannot answer: before they
    are first built, or for a period that is not made of whole days in their time zone."""
    zone = rollup_zone(session)
    days = period_days(period, ZoneInfo(zone)) if zone else None
    if zone is None or days is None:
        return None
    return reading_of(session, period=period, days=days, zone=zone, now=now)


def facts_source(reading: _Reading) -> Any:
    """The per-case facts, with the cases written since the last refresh taken live."""
    return _overlaid(reading, FACTS, facts_select, CASES.id, "facts")


def event_facts_source(reading: _Reading) -> Any:
    return _overlaid(reading, EVENT_FACTS, event_facts_select, EVENTS.case_id, "event_facts")


def _overlaid(
    reading: _Reading,
    kept: Any,
    written: Callable[[str, ColumnElement[bool]], Select[Any]],
    case_id: Any,
    name: str,
) -> Any:
    """The ``kept`` table of facts, its rows of the cases written since the last refresh
    replaced by ``written`` (the same facts worked out from those cases now)."""
    if not reading.pending:
        return kept
    unchanged = select(*kept.c).where(kept.c.case_id.notin_(dirty_cases()))
    fresh = written(reading.zone, case_id.in_(dirty_cases()))
    return union_all(unchanged, fresh).subquery(name)


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
