"""Routing a stored report, run twice or concurrently, dispatches it once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfo

import pytest
import shapely
from sqlalchemy import func, select
from sqlmodel import Session

from geo.layer import Grid
from tests.reports import report_at
from urbangrid.cases.relay import claim_unrouted
from urbangrid.core.columns import utcnow
from urbangrid.core.db import make_engine
from urbangrid.core.grids import ActiveGrid
from urbangrid.core.tables import Case, CaseEvent
from urbangrid.domain.calendar import OfficialCalendar
from urbangrid.domain.sla import ClockRules
from workers.routing import route_case

TZ = ZoneInfo("Asia/Shanghai")


def new_case(session: Session, grid: Grid, category: str = "E0506", index: int = 3) -> int:
    point = shapely.point_on_surface(grid[max(grid)].geoms[index])
    token = f"t-{utcnow().timestamp()}-{index}"
    case = report_at(point.x, point.y, token=token, category=category, location=point)
    session.add(case)
    session.commit()
    assert case.id is not None
    return case.id


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_route_twice_concurrently_dispatches_once(
    backend: str, request: pytest.FixtureRequest, demo_grid: Grid
) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    engine = make_engine(url)
    grid = ActiveGrid()
    with Session(engine) as session:
        case_id = new_case(session, demo_grid)
        grid.current(session)

    def run() -> str:
        with Session(engine) as session:
            outcome = route_case(
                case_id, session=session, grid=grid, rules=ClockRules(OfficialCalendar(), TZ)
            )
            return "won" if outcome.changed else "noop"

    with ThreadPoolExecutor(4) as pool:
        results = sorted(pool.map(lambda _: run(), range(4)))
    assert results == ["noop", "noop", "noop", "won"]
    with Session(engine) as session:
        case = session.get(Case, case_id)
        assert case is not None and case.state == "DISPATCHED"
        # Bike clutter has no rule in the demo: the street office of its L2 answers (属地管理).
        assert case.department_code == f"so-{case.l2_code}"
        actions = (
            session.execute(
                select(CaseEvent.action).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)  # type: ignore[arg-type]
            )
            .scalars()
            .all()
        )
    engine.dispose()
    assert actions == ["file", "dispatch"]


def test_relay_claims_unpublished_and_stale_reports_only(sqlite_url: str, demo_grid: Grid) -> None:
    """Never published past the grace (the broker was away), or published past the lease."""
    from datetime import timedelta

    engine = make_engine(sqlite_url)
    now = utcnow()
    with Session(engine) as session:
        fresh = new_case(session, demo_grid, index=11)  # its message is in the queue
        lost = new_case(session, demo_grid, index=14)  # stored 100 s ago, never routed
        stale = new_case(session, demo_grid, index=12)
        recent = new_case(session, demo_grid, index=13)
        behind = new_case(session, demo_grid, index=15)  # relayed 3 times: waits 120 s now
        for case_id, created, published, attempts in (
            (lost, now - timedelta(seconds=100), None, 0),
            (stale, now - timedelta(seconds=200), now - timedelta(seconds=100), 1),
            (recent, now - timedelta(seconds=200), now - timedelta(seconds=1), 1),
            (behind, now - timedelta(seconds=900), now - timedelta(seconds=100), 3),
        ):
            case = session.get(Case, case_id)
            assert case is not None
            case.created_at, case.published_at, case.publish_attempts = created, published, attempts
            session.add(case)
        session.commit()
        claimed = claim_unrouted(session, now=now, grace_s=30, batch=1000)
        again = claim_unrouted(session, now=now, grace_s=30, batch=1000)
        attempts = session.execute(
            select(func.max(Case.publish_attempts)).where(Case.id == lost)  # type: ignore[arg-type]
        ).scalar_one()
        later = claim_unrouted(session, now=now + timedelta(seconds=35), grace_s=30, batch=1000)
    engine.dispose()
    assert lost in claimed and stale in claimed
    assert fresh not in claimed and recent not in claimed and behind not in claimed
    assert lost not in again and stale not in again
    # Past 30 s after it was stored, the fresh report's message counts as lost.
    assert fresh in later and behind in later
    assert attempts == 1
