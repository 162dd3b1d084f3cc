"""The overview page: the scope's figures for the period, its open cases now, week by week."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlmodel import Session

from dashboard.loaders.figures import (
    Filters,
    evaluate_frame,
    main_departments,
    open_frame,
    period_of,
)
from urbangrid.core.settings import Settings
from urbangrid.evaluation.report import FLAT_COLUMNS, trend
from urbangrid.evaluation.scope import Dimension


@dataclass(frozen=True)
class OverviewData:
    total: dict[str, Any]  # the period's figures for the whole scope
    open_now: dict[str, int]
    weekly: pd.DataFrame
    departments: pd.DataFrame  # the departments with most cases due, and their open cases


def overview_data(
    session: Session, settings: Settings, filters: Filters, now: datetime
) -> OverviewData:
    period = period_of(settings, filters.period, now)
    total = evaluate_frame(session, settings, filters, Dimension.TOTAL, now, period=period)
    snapshot = open_frame(session, settings, filters.scope, Dimension.TOTAL, now)
    points = trend(
        session,
        period=period,
        unit="week",
        tz=ZoneInfo(settings.city_timezone),
        scope=filters.scope,
        now=now,
        satisfied_score=settings.metrics_satisfied_score,
    )
    weekly = pd.DataFrame(
        [
            {
                "bucket": p.bucket,
                "received": p.counts.received,
                "closed": p.counts.closed,
                "overdue": p.counts.overdue,
                "closure_rate": p.rates["closure_rate"],
                "on_time_closure_rate": p.rates["on_time_closure_rate"],
            }
            for p in points
        ],
        columns=[
            "bucket",
            "received",
            "closed",
            "overdue",
            "closure_rate",
            "on_time_closure_rate",
        ],
    )
    departments = main_departments(session, settings, filters, filters.scope, now, period=period)
    empty = dict.fromkeys(FLAT_COLUMNS)
    row = total.iloc[0].to_dict() if len(total) else {**empty, "key": "all"}
    counts = snapshot.iloc[0].to_dict() if len(snapshot) else {}
    return OverviewData(
        total=row,
        open_now={k: int(counts.get(k, 0)) for k in ("open", "suspended", "overdue", "at_risk")},
        weekly=weekly,
        departments=departments.reset_index(drop=True),
    )
