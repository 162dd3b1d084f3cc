"""Duplicates: a report of the same category close to an open case, made recently, joins it.

The database finds candidates with a box around the point (an index of open cases by category
and latitude keeps that cheap however many cases are closed); the domain's pure function then
measures the distance exactly and picks the nearest. The report is stored with ``duplicate_of``
set, so that the resident is told at once and follows that case; a worker then voids it and
notes it on the case it joined, through ``lifecycle.record`` (``workers/duplicates.py``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select, text

from urbangrid.core.columns import UTCDateTime
from urbangrid.core.tables import Case
from urbangrid.core.tables.cases import OPEN_NOT_DUPLICATE
from urbangrid.domain.residents import Nearby, bounding_box, nearest_open_case

_CASES: Table = Case.__table__  # type: ignore[attr-defined]

_NEARBY_OPEN = (
    select(_CASES.c.id, _CASES.c.lat, _CASES.c.lon)
    .where(_CASES.c.category_code == bindparam("category"))
    .where(text(OPEN_NOT_DUPLICATE))
    .where(_CASES.c.lat.between(bindparam("min_lat"), bindparam("max_lat")))
    .where(_CASES.c.lon.between(bindparam("min_lon"), bindparam("max_lon")))
    .where(_CASES.c.created_at >= bindparam("since", type_=UTCDateTime()))
    .order_by(_CASES.c.id)
    .limit(100)
)


def search_area(
    lat: float, lon: float, *, radius_m: float, window_h: float, now: datetime
) -> dict[str, Any]:
    """The box and the time window to look in; an empty box when duplicates are not looked for.

    >>> from datetime import UTC
    >>> area = search_area(31.23, 121.47, radius_m=0, window_h=72, now=datetime.now(UTC))
    >>> area["min_lat"] > area["max_lat"]
    True
    """
    if radius_m <= 0 or window_h <= 0:
        return {"min_lat": 1.0, "max_lat": 0.0, "min_lon": 1.0, "max_lon": 0.0, "since": now}
    min_lat, max_lat, min_lon, max_lon = bounding_box(lat, lon, radius_m)
    return {
        "min_lat": min_lat,
        "max_lat": max_lat,
        "min_lon": min_lon,
        "max_lon": max_lon,
        "since": now - timedelta(hours=window_h),
    }


def find_duplicate(
    conn: Connection,
    category: str,
    lat: float,
    lon: float,
    *,
    radius_m: float,
    window_h: float,
    now: datetime,
) -> int | None:
    """The open case a new report at (lat, lon) of ``category`` joins, if any."""
    if radius_m <= 0 or window_h <= 0:
        return None
    area = search_area(lat, lon, radius_m=radius_m, window_h=window_h, now=now)
    rows = conn.execute(_NEARBY_OPEN, {"category": category, **area}).all()
    return nearest(rows, lat=lat, lon=lon, radius_m=radius_m)


def nearest(rows: Any, *, lat: float, lon: float, radius_m: float) -> int | None:
    """The nearest of (id, lat, lon) candidate rows within the radius, or None."""
    return nearest_open_case(
        (Nearby(int(r[0]), float(r[1]), float(r[2])) for r in rows),
        lat=lat,
        lon=lon,
        radius_m=radius_m,
    )
