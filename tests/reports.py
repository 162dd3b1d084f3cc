"""Reports stored straight into the database, as intake stores them, for tests that start a case
further along than the API would take it."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from urbangrid.core.tables import Case, CaseEvent


def report_at(lon: float, lat: float, *, token: str, category: str, **columns: Any) -> Case:
    """A report of ``category`` given in WGS84 at (``lon``, ``lat``), with further ``columns``;
    not yet added to a session."""
    return Case(
        tracking_token=token,
        category_code=category,
        input_crs="wgs84",
        input_lat=lat,
        input_lon=lon,
        lat=lat,
        lon=lon,
        **columns,
    )


def store_submitted(session: Session, case: Case, *, actor: str, role: str) -> Case:
    """``case`` added with its first event, as intake stores a report before any step."""
    session.add(case)
    session.flush()
    assert case.id is not None
    session.add(
        CaseEvent(
            case_id=case.id,
            at=case.created_at,
            action="submit",
            to_state="REPORTED",
            actor=actor,
            role=role,
        )
    )
    return case
