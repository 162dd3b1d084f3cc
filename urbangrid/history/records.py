"""A case as the history loaders hand it to the store: its column values, its events in order,
and its clocks. The demo season and the real Open311 import both make these; ``store`` writes
them in bulk."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from urbangrid.domain.sla import Clock


@dataclass
class CaseRecord:
    """One case's column values, its events in order, and its clocks (ids are the caller's)."""

    case: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    clocks: list[Clock] = field(default_factory=list)


# Every column of a case the loaders write, as it stands before its first step: reported in
# WGS84 through no client, not yet placed, routed, stamped, counted or escalated.
_UNTOUCHED: dict[str, Any] = {
    "input_crs": "wgs84",
    "grid_version_id": None,
    "l1_code": None,
    "l2_code": None,
    "l3_code": None,
    "l4_code": None,
    "department_code": None,
    "routing_rule_id": None,
    "deadline_at": None,
    "routed_at": None,
    "published_at": None,
    "publish_attempts": 0,
    "filed_at": None,
    "dispatched_at": None,
    "handled_at": None,
    "closed_at": None,
    "rework_count": 0,
    "return_count": 0,
    "extension_count": 0,
    "reopen_count": 0,
    "escalation_level": 0,
    "stage": None,
    "stage_deadline_at": None,
    "case_deadline_at": None,
    "escalated_to": None,
    "flag": None,
    "pending_request": None,
    # Intake's columns (migration 0003_intake): no contact, address or link.
    "client_id": None,
    "contact": None,
    "address": None,
    "media_url": None,
    "duplicate_of": None,
}


def case_columns(lon: float, lat: float, **values: Any) -> dict[str, Any]:
    """A case's column values for :class:`CaseRecord`: reported at (``lon``, ``lat``) in WGS84,
    ``values`` over a case untouched yet.

    >>> case = case_columns(121.47, 31.23, id=7, channel="api")
    >>> case["id"], case["input_lat"], case["lat"], case["rework_count"], case["closed_at"]
    (7, 31.23, 31.23, 0, None)
    """
    return {**_UNTOUCHED, "input_lat": lat, "input_lon": lon, "lat": lat, "lon": lon, **values}
