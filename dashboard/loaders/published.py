"""The published page: what the city publishes for a quarter, aggregates only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlmodel import Session

from dashboard.loaders.figures import (
    Filters,
    evaluate_frame,
    open_frame,
    period_of,
    quarter_ranking,
)
from urbangrid.core.settings import Settings
from urbangrid.evaluation.report import FLAT_COLUMNS
from urbangrid.evaluation.scope import Dimension, Scope


@dataclass(frozen=True)
class PublishedData:
    """What the city publishes: its totals for the quarter, open cases now, and the ranking."""

    quarter: str
    total: dict[str, Any]
    open_now: dict[str, int]
    ranking: pd.DataFrame


def published_data(
    session: Session, settings: Settings, quarter: str, lang: str, now: datetime
) -> PublishedData:
    """The city's totals and the departments' ranking for one quarter: aggregates only."""
    filters = Filters(period=quarter, lang=lang)
    period = period_of(settings, quarter, now)
    total = evaluate_frame(session, settings, filters, Dimension.TOTAL, now, period=period)
    snapshot = open_frame(session, settings, Scope(), Dimension.TOTAL, now)
    ranking = quarter_ranking(session, settings, filters, period, now)
    counts = snapshot.iloc[0].to_dict() if len(snapshot) else {}
    return PublishedData(
        quarter=quarter,
        total=total.iloc[0].to_dict() if len(total) else {**dict.fromkeys(FLAT_COLUMNS)},
        open_now={k: int(counts.get(k, 0)) for k in ("open", "suspended", "overdue", "at_risk")},
        ranking=ranking,
    )
