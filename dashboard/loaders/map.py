"""The map page: the children of the chosen area (or the districts) with their figures, as a
table and as GeoJSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import shapely
from sqlalchemy import select
from sqlmodel import Session

from dashboard.loaders.figures import (
    HEADLINE_COLUMNS,
    Filters,
    active_version,
    evaluate_frame,
    main_departments,
    open_frame,
)
from urbangrid.core.settings import Settings
from urbangrid.evaluation.scope import AREA_DIMENSION, AREAS, Scope, area_level

# The columns of the map's table, for the loader and the page alike.
MAP_COLUMNS = [*HEADLINE_COLUMNS, "open", "overdue_now", "at_risk"]


@dataclass(frozen=True)
class MapData:
    level: int
    parent: str | None
    table: pd.DataFrame  # per area: figures for the period and open cases now
    features: dict[str, Any]  # GeoJSON of the areas, with the table's figures as properties
    bounds: tuple[float, float, float, float] | None
    departments: pd.DataFrame  # who answers for the cases of the area shown


def map_level(session: Session, area: str | None) -> tuple[int, str | None]:
    """The level shown and its parent: the children of the chosen area, or the districts."""
    if not area:
        return 1, None
    level = area_level(session, area)
    if level >= 4:
        parent = session.execute(
            select(AREAS.parent_code).where(AREAS.code == area).limit(1)
        ).scalar_one_or_none()
        return 4, parent
    return level + 1, area


def map_data(session: Session, settings: Settings, filters: Filters, now: datetime) -> MapData:
    level, parent = map_level(session, filters.area)
    dimension = AREA_DIMENSION[level]
    scope = Scope(department=filters.department, area=parent, category=filters.category)
    figures = evaluate_frame(session, settings, filters, dimension, now, scope=scope)
    opened = open_frame(session, settings, scope, dimension, now)
    version = active_version(session)
    shapes: list[tuple[str, str, Any]] = []
    if version is not None:
        query = select(AREAS.code, AREAS.name, AREAS.geom).where(
            AREAS.version_id == version, AREAS.level == level
        )
        if parent:
            query = query.where(AREAS.parent_code == parent)
        shapes = [(str(c), str(n), g) for c, n, g in session.execute(query.order_by(AREAS.code))]
    table = pd.DataFrame({"key": [c for c, _, _ in shapes], "name": [n for _, n, _ in shapes]})
    table = table.merge(figures.drop(columns=["name"]), on="key", how="left")
    table = table.merge(opened.rename(columns={"overdue": "overdue_now"}), on="key", how="left")
    counts = ["received", "due", "closed", "open", "overdue_now", "at_risk", "suspended"]
    table[counts] = table[counts].fillna(0).astype(int)
    table = table[MAP_COLUMNS]
    features: list[dict[str, Any]] = []
    bounds = None
    if shapes:
        geoms = [g for _, _, g in shapes]
        minx, miny, maxx, maxy = shapely.total_bounds(geoms)
        bounds = (float(minx), float(miny), float(maxx), float(maxy))
        tolerance = max(maxx - minx, maxy - miny) / 800
        simplified = shapely.simplify(geoms, tolerance, preserve_topology=True)
        # Where each area's name is written: a point surely inside it, even for odd shapes.
        anchors = shapely.point_on_surface(geoms)
        for geom, anchor, record in zip(simplified, anchors, table.to_dict("records"), strict=True):
            shape = shapely.geometry.mapping(shapely.set_precision(geom, 1e-5))
            record["anchor"] = [round(anchor.x, 5), round(anchor.y, 5)]
            features.append({"type": "Feature", "geometry": shape, "properties": record})
    return MapData(
        level=level,
        parent=parent,
        table=table,
        features={"type": "FeatureCollection", "features": features},
        bounds=bounds,
        departments=main_departments(session, settings, filters, scope, now),
    )
