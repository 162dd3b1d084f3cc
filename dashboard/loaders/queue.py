"""The work queue page: the scope's open cases with their clocks."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlmodel import Session

from dashboard.loaders.figures import Filters
from urbangrid.core.settings import Settings
from urbangrid.evaluation.queue import work_queue

# The columns of a work queue, for the loader and the page alike.
QUEUE_COLUMNS = [
    "id",
    "clock",
    "hours_left",
    "deadline",
    "case_deadline",
    "state",
    "stage",
    "category",
    "department",
    "area",
    "escalation_level",
    "seconds_left",
    "areas",
    "near_boundary",
]


def queue_data(
    session: Session, settings: Settings, filters: Filters, now: datetime, limit: int = 200
) -> pd.DataFrame:
    """The scope's open cases with their clocks, read from the database (read-only)."""
    items = work_queue(
        session,
        scope=filters.scope,
        now=now,
        at_risk_share=settings.sla_warn_share,
        limit=limit,
    )
    return pd.DataFrame(
        [
            {
                "id": i.id,
                "clock": i.clock,
                "hours_left": None if i.seconds_left is None else round(i.seconds_left / 3600, 1),
                "deadline": i.deadline_at,
                "case_deadline": i.case_deadline_at,
                "state": i.state,
                "stage": i.stage,
                "category": i.category_code,
                "department": i.department_code,
                "area": next((c for c in reversed(i.area_codes) if c), None),
                "escalation_level": i.escalation_level,
                "seconds_left": i.seconds_left,
                "areas": i.area_codes,
                "near_boundary": i.near_boundary,
            }
            for i in items
        ],
        columns=QUEUE_COLUMNS,
    )
