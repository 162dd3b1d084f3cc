"""Duplicates: a report of the same category close to an open case, made recently, joins it.

The database finds candidates with a box around the point (an index of open cases by category
and latitude keeps that cheap however many cases are closed); the domain's pure function then
measures the distance exactly and picks the nearest. A joining report is voided as a duplicate
and noted on the case it joined, both through ``lifecycle.record``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select, text
from sqlmodel import Session

from urbangrid.columns import UTCDateTime
from urbangrid.domain.residents import Nearby, bounding_box, nearest_open_case
from urbangrid.domain.sla import ClockRules
from urbangrid.domain.workflow import Role
from urbangrid.lifecycle import record
from urbangrid.tables import Case
from urbangrid.tables.cases import OPEN_NOT_DUPLICATE

SYSTEM_ACTOR = "system:intake"
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
    return nearest_open_case(
        (Nearby(int(r[0]), float(r[1]), float(r[2])) for r in rows),
        lat=lat,
        lon=lon,
        radius_m=radius_m,
    )


def link_duplicate(
    session: Session, case_id: int, parent_id: int, *, at: datetime, rules: ClockRules
) -> None:
    """Void the new report as a duplicate of ``parent_id`` and note it on the parent."""
    case = session.get(Case, case_id)
    parent = session.get(Case, parent_id)
    assert case is not None and parent is not None
    record(
        session,
        case,
        "void",
        actor=SYSTEM_ACTOR,
        role=Role.SYSTEM,
        at=at,
        note=f"duplicate of case {parent_id}; the reporter follows that case",
        detail={"duplicate_of": parent_id},
        values={"duplicate_of": parent_id},
        rules=rules,  # voiding stops the report's clocks
    )
    record(
        session,
        parent,
        "duplicate",
        actor=SYSTEM_ACTOR,
        role=Role.SYSTEM,
        at=at,
        note=f"report {case_id} describes the same problem",
        detail={"report": case_id},
    )
