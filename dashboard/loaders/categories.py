"""The categories page: minor and major classes, received per week, and the most reported
categories of each area."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd
from sqlmodel import Session

from dashboard.loaders.figures import Filters, evaluate_frame, main_departments, period_of
from dashboard.loaders.map import map_level
from urbangrid.core.settings import Settings
from urbangrid.evaluation.report import group_names, received_per_bucket, top_categories
from urbangrid.evaluation.scope import AREA_DIMENSION, Dimension, Scope


@dataclass(frozen=True)
class CategoriesData:
    minors: pd.DataFrame
    majors: pd.DataFrame
    weekly: pd.DataFrame  # cases received per week per major class
    top: pd.DataFrame  # the most reported categories of each district (or child area)
    departments: pd.DataFrame  # who answers for the chosen class (or for all)


def categories_data(
    session: Session, settings: Settings, filters: Filters, now: datetime
) -> CategoriesData:
    period = period_of(settings, filters.period, now)
    minors = evaluate_frame(session, settings, filters, Dimension.CATEGORIES, now, period=period)
    majors = evaluate_frame(session, settings, filters, Dimension.MAJORS, now, period=period)
    received = received_per_bucket(
        session,
        period=period,
        unit="week",
        tz=ZoneInfo(settings.city_timezone),
        by=Dimension.MAJORS,
        scope=filters.scope,
    )
    labels = group_names(session, Dimension.MAJORS, {key for _, key in received}, lang=filters.lang)
    weekly = pd.DataFrame(
        [
            {"bucket": bucket, "major": f"{key} {labels.get(key, '')}", "received": count}
            for (bucket, key), count in sorted(received.items(), key=lambda kv: str(kv[0]))
        ],
        columns=["bucket", "major", "received"],
    )
    level, parent = map_level(session, filters.area)
    top = top_categories(
        session,
        period=period,
        level=level,
        scope=Scope(department=filters.department, area=parent, category=filters.category),
        limit=3,
    )
    area_names = group_names(session, AREA_DIMENSION[level], top.keys(), lang=filters.lang)
    category_names = group_names(
        session,
        Dimension.CATEGORIES,
        {c for rows in top.values() for c, _ in rows},
        lang=filters.lang,
    )
    top_frame = pd.DataFrame(
        [
            {
                "area": area,
                "area_name": area_names.get(area, ""),
                "place": place,
                "category": code,
                "category_name": category_names.get(code, code),
                "received": received,
            }
            for area, rows in sorted(top.items(), key=lambda kv: str(kv[0]))
            for place, (code, received) in enumerate(rows, start=1)
        ],
        columns=["area", "area_name", "place", "category", "category_name", "received"],
    )
    return CategoriesData(
        minors=minors,
        majors=majors,
        weekly=weekly,
        top=top_frame,
        departments=main_departments(session, settings, filters, filters.scope, now, period=period),
    )
