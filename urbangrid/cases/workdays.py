"""The city's working-day calendar and clock rules, read from the settings and the database.

The official notice comes with ``chinesecalendar``; the override table (``urbangrid calendar``)
is read each time, so a correction entered by staff counts from the next deadline computed,
in every process, without a restart.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from urbangrid.cases.casework import Policy
from urbangrid.core.settings import Settings
from urbangrid.core.tables import CalendarDay, CalendarYear
from urbangrid.domain.calendar import OfficialCalendar
from urbangrid.domain.sla import ClockRules
from urbangrid.domain.timelimits import parse_windows


def load_calendar(session: Session) -> OfficialCalendar:
    """The official calendar with the city's overrides and fully entered years on top."""
    overrides: dict[date, bool] = {
        row.day: row.is_workday for row in session.exec(select(CalendarDay))
    }
    years = [row.year for row in session.exec(select(CalendarYear))]
    return OfficialCalendar(overrides, years)


def clock_rules(session: Session, settings: Settings) -> ClockRules:
    """How this city's clocks count, for the steps run in this session."""
    return ClockRules(
        calendar=load_calendar(session),
        tz=ZoneInfo(settings.city_timezone),
        windows=parse_windows(settings.office_windows),
        warn_share=settings.sla_warn_share,
        max_rounds=settings.sla_home_level - 1,
    )


def case_policy(session: Session, settings: Settings) -> Policy:
    """Clock rules plus the escalation and ping-pong limits, for the API and the workers."""
    return Policy(
        rules=clock_rules(session, settings),
        home_level=settings.sla_home_level,
        pingpong_returns=settings.pingpong_returns,
    )
