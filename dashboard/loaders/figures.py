"""A view's filters and the figures every page builds on: the evaluation and the open cases of a
scope as tables, and the departments that answer for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd
from sqlmodel import Session

from urbangrid.core.settings import Settings
from urbangrid.evaluation.formulas import Period, parse_period
from urbangrid.evaluation.queue import open_now
from urbangrid.evaluation.report import FLAT_COLUMNS, all_department_codes, evaluate
from urbangrid.evaluation.scope import Dimension, Scope

# The first columns of every page's table of areas or categories: what the row is, and its
# headline figures for the period.
HEADLINE_COLUMNS = [
    "key",
    "name",
    "received",
    "due",
    "closed",
    "closure_rate",
    "on_time_closure_rate",
]


@dataclass(frozen=True)
class Filters:
    """The view a URL shares: period, grid area, department, category and language."""

    period: str
    department: str | None = None
    area: str | None = None
    category: str | None = None
    lang: str = "zh"

    @property
    def scope(self) -> Scope:
        return Scope(department=self.department, area=self.area, category=self.category)


def period_of(settings: Settings, label: str, now: datetime) -> Period:
    """The period a label names (``2026-Q3``, ``90d``…), in the city's time zone."""
    tz = ZoneInfo(settings.city_timezone)
    return parse_period(label, tz=tz, today=now.astimezone(tz).date())


def evaluate_frame(
    session: Session,
    settings: Settings,
    filters: Filters,
    by: Dimension,
    now: datetime,
    *,
    period: Period | None = None,
    scope: Scope | None = None,
    include: list[str] | None = None,
    min_cases: int = 0,
) -> pd.DataFrame:
    """The evaluation per ``by`` for the view's period and scope (or those given), a row each."""
    rows = evaluate(
        session,
        period=period or period_of(settings, filters.period, now),
        by=by,
        scope=filters.scope if scope is None else scope,
        now=now,
        policy=settings.score_policy,
        satisfied_score=settings.metrics_satisfied_score,
        lang=filters.lang,
        include=include or (),
        min_cases=min_cases,
    )
    return pd.DataFrame([e.flat() for e in rows], columns=list(FLAT_COLUMNS))


def quarter_ranking(
    session: Session, settings: Settings, filters: Filters, period: Period, now: datetime
) -> pd.DataFrame:
    """The city-wide ranking of every department for ``period`` (a quarter), a row each; a
    department with too few cases due is listed unranked."""
    ranking = evaluate_frame(
        session,
        settings,
        filters,
        Dimension.DEPARTMENTS,
        now,
        period=period,
        scope=Scope(),
        include=all_department_codes(session),
        min_cases=settings.ranking_min_cases,
    )
    return ranking[ranking["key"].notna()].reset_index(drop=True)  # not yet any department's


def open_frame(
    session: Session, settings: Settings, scope: Scope, by: Dimension, now: datetime
) -> pd.DataFrame:
    """The cases open now per ``by`` in ``scope``: open, suspended, overdue, at risk."""
    found = open_now(session, by=by, scope=scope, now=now, at_risk_share=settings.sla_warn_share)
    return pd.DataFrame(
        [{"key": key, **figures.__dict__} for key, figures in found.items()],
        columns=["key", "open", "suspended", "overdue", "at_risk"],
    )


def main_departments(
    session: Session,
    settings: Settings,
    filters: Filters,
    scope: Scope,
    now: datetime,
    *,
    period: Period | None = None,
    top: int = 10,
) -> pd.DataFrame:
    """The departments with most cases due in a scope, with their open and overdue cases now."""
    figures = evaluate_frame(
        session, settings, filters, Dimension.DEPARTMENTS, now, period=period, scope=scope
    )
    opened = open_frame(session, settings, scope, Dimension.DEPARTMENTS, now)
    merged = figures.merge(
        opened.rename(columns={"overdue": "overdue_now"}), on="key", how="left"
    ).fillna({"open": 0, "suspended": 0, "overdue_now": 0, "at_risk": 0})
    merged = merged[merged["key"].notna()]
    ordered = merged.sort_values(["due", "open", "key"], ascending=[False, False, True])
    return ordered.head(top).reset_index(drop=True)


def active_version(session: Session) -> int | None:
    """The active grid version, whose areas the pages show (None before a grid is imported)."""
    from urbangrid.core.grids import active_version_id

    return active_version_id(session)
