"""The departments page: every measure per department, the quarter's ranking, and each stage's
clocks per role and per member of staff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd
from sqlmodel import Session

from dashboard.i18n import t
from dashboard.loaders.figures import Filters, evaluate_frame, period_of, quarter_ranking
from urbangrid.core.settings import Settings
from urbangrid.evaluation.formulas import quarter_of
from urbangrid.evaluation.report import STEP_COLUMNS, evaluate_steps
from urbangrid.evaluation.scope import Dimension


@dataclass(frozen=True)
class DepartmentsData:
    table: pd.DataFrame  # every measure per department for the chosen period
    ranking: pd.DataFrame  # the quarter's ranking, every department listed
    ranking_period: str
    roles: pd.DataFrame  # each stage's clocks per role (STEP_FRAME_COLUMNS)
    staff: pd.DataFrame  # the same per member of staff


# The evaluation per role as the dashboard names its columns: "due" and "overdue" already mean
# cases on this page, so the steps' counts carry a prefix of their own.
STEP_FRAME_COLUMNS = tuple(
    name if name in ("stage", "stage_name", "role", "actor") else f"step_{name}"
    for name in STEP_COLUMNS
)


def _steps(
    session: Session, settings: Settings, filters: Filters, now: datetime, *, by_actor: bool
) -> pd.DataFrame:
    rows = evaluate_steps(
        session,
        period=period_of(settings, filters.period, now),
        scope=filters.scope,
        now=now,
        by_actor=by_actor,
        lang=filters.lang,
    )
    frame = pd.DataFrame(rows, columns=list(STEP_COLUMNS))
    frame.columns = list(STEP_FRAME_COLUMNS)
    frame["role"] = [t(f"role_{role}", filters.lang) for role in frame["role"]]
    return frame


def ranking_quarter(settings: Settings, label: str, now: datetime) -> str:
    """The quarter ranked: the chosen period when it is a quarter, else the current one."""
    period = period_of(settings, label, now)
    if label.upper() == period.label and "-Q" in period.label:
        return period.label
    return quarter_of(now.astimezone(ZoneInfo(settings.city_timezone)).date())


def departments_data(
    session: Session, settings: Settings, filters: Filters, now: datetime
) -> DepartmentsData:
    table = evaluate_frame(session, settings, filters, Dimension.DEPARTMENTS, now)
    # Biggest first: the table is for reading across departments; the ranking orders by score.
    table = table.sort_values(["due", "key"], ascending=[False, True]).reset_index(drop=True)
    quarter = ranking_quarter(settings, filters.period, now)
    ranking = quarter_ranking(session, settings, filters, period_of(settings, quarter, now), now)
    return DepartmentsData(
        table=table,
        ranking=ranking,
        ranking_period=quarter,
        roles=_steps(session, settings, filters, now, by_actor=False),
        staff=_steps(session, settings, filters, now, by_actor=True),
    )
