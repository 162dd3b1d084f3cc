"""Routing a batch gives each case exactly what routing it alone gives, and runs twice safely."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import shapely
from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from geo.layer import Grid
from tests.conftest import seed_database
from tests.reports import report_at
from tests.services import postgres_database
from urbangrid.cases.reference import ReferenceCache
from urbangrid.core.columns import utcnow
from urbangrid.core.db import make_engine
from urbangrid.core.grids import ActiveGrid
from urbangrid.core.tables import Case, CaseEvent, Category, RoutingRule, SlaClock
from urbangrid.domain.calendar import OfficialCalendar
from urbangrid.domain.sla import ClockRules
from workers.batch_routing import route_batch
from workers.routing import route_case

TZ = ZoneInfo("Asia/Shanghai")
RULES = ClockRules(OfficialCalendar(), TZ)
CASE_COLUMNS = (
    "state", "grid_version_id", "l1_code", "l2_code", "l3_code", "l4_code", "department_code",
    "routing_rule_id", "routed_at", "filed_at", "dispatched_at", "updated_at", "stage",
    "stage_deadline_at", "deadline_at", "case_deadline_at", "escalation_level", "near_boundary",
)  # fmt: skip
EVENT_COLUMNS = (
    "at", "action", "from_state", "to_state", "actor", "role", "note", "detail", "department_code",
)  # fmt: skip
CLOCK_COLUMNS = (
    "stage", "started_at", "limit", "extended", "paused_s", "paused_at", "stopped_at",
    "stopped_by", "stopped_role", "step", "deadline_at", "warn_at", "next_at", "leased_until",
)  # fmt: skip


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path, demo_grid: Grid) -> Iterator[Engine]:
    """A database of its own: the test changes categories and rules."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'batch.db'}"
        seed_database(url, demo_grid)
        engine = make_engine(url)
        yield engine
        engine.dispose()
        return
    with postgres_database() as url:
        seed_database(url, demo_grid)
        engine = make_engine(url)
        yield engine
        engine.dispose()


def _varied_reference(session: Session) -> list[str]:
    """Some categories need a verification, some wait for a dispatcher; return every code."""
    codes = sorted(session.exec(select(Category.code)).all())
    session.execute(
        update(Category).where(col(Category.code).in_(codes[::7])).values(needs_verification=True)
    )
    session.execute(
        update(Category).where(col(Category.code).in_(codes[3::7])).values(auto_dispatch=False)
    )
    session.commit()
    return codes


def _twins(session: Session, grid: Grid, codes: list[str], count: int) -> list[tuple[int, int]]:
    """``count`` random reports, each stored twice: one to route alone, one in a batch."""
    rng = np.random.default_rng(13)
    west, south, east, north = shapely.total_bounds(grid[1].geoms)
    pad_x, pad_y = (east - west) * 0.05, (north - south) * 0.05
    now = utcnow()
    pairs = []
    rows = []
    for n in range(count):
        lon = float(rng.uniform(west - pad_x, east + pad_x))  # a few fall outside the grid
        lat = float(rng.uniform(south - pad_y, north + pad_y))
        created = now - timedelta(minutes=float(rng.uniform(0, 6 * 24 * 60)))
        code = codes[int(rng.integers(len(codes)))]
        for twin in ("alone", "batch"):
            rows.append(
                report_at(
                    lon,
                    lat,
                    token=f"{twin}-{n}",
                    category=code,
                    created_at=created,
                    updated_at=created,
                )
            )
    session.add_all(rows)
    session.commit()
    for alone, batch in zip(rows[::2], rows[1::2], strict=True):
        assert alone.id is not None and batch.id is not None
        pairs.append((alone.id, batch.id))
    return pairs


def _story(session: Session, case_id: int) -> dict[str, Any]:
    case = session.get(Case, case_id)
    assert case is not None
    events = session.exec(
        select(CaseEvent).where(col(CaseEvent.case_id) == case_id).order_by(col(CaseEvent.id))
    ).all()
    clocks = session.exec(
        select(SlaClock).where(col(SlaClock.case_id) == case_id).order_by(col(SlaClock.id))
    ).all()
    return {
        "case": {name: getattr(case, name) for name in CASE_COLUMNS},
        "events": [
            {
                name: json.loads(e.detail) if name == "detail" else getattr(e, name)
                for name in EVENT_COLUMNS
            }
            for e in events
        ],
        "clocks": [{name: getattr(c, name) for name in CLOCK_COLUMNS} for c in clocks],
    }


def _counts(session: Session) -> tuple[int, int]:
    events = session.execute(select(func.count()).select_from(CaseEvent)).scalar_one()
    clocks = session.execute(select(func.count()).select_from(SlaClock)).scalar_one()
    return int(events), int(clocks)


@pytest.mark.timeout(1800)  # a thousand cases routed one by one, on a busy machine
def test_a_batch_routes_as_each_case_alone(engine: Engine, demo_grid: Grid) -> None:
    """1,000 random reports stored twice (2,000 cases): one of each routed alone, one in a batch."""
    grid = ActiveGrid()
    cache = ReferenceCache(lambda _: RULES)
    now = utcnow()
    with Session(engine, expire_on_commit=False) as session:
        codes = _varied_reference(session)
        pairs = _twins(session, demo_grid, codes, 1000)
        for alone, _ in pairs:
            route_case(alone, session=session, grid=grid, rules=RULES, now=now)
        batch_ids = [b for _, b in pairs]
        for start in range(0, len(batch_ids), 200):
            chunk = batch_ids[start : start + 200]
            outcomes = route_batch(
                chunk, session=session, grid=grid, reference=cache.get(session), now=now
            )
            assert all(o.changed for o in outcomes)
    kinds: set[str] = set()
    with Session(engine) as session:
        for alone, batch in pairs:
            expected, got = _story(session, alone), _story(session, batch)
            assert got == expected, (alone, batch)
            kinds.add(f"{got['case']['state']}:{len(got['events'])}")
    # The random cases cover every way routing ends: outside the grid or waiting for a
    # verification (located), filed for a dispatcher, dispatched by a rule or to the street.
    assert {"REPORTED:1", "FILED:1", "DISPATCHED:2"} <= kinds

    # Delivered again (a redelivery, the relay): nothing changes, nothing is appended.
    with Session(engine, expire_on_commit=False) as session:
        before = _counts(session)
        stories = [_story(session, b) for b in batch_ids[:300]]
        outcomes = route_batch(
            batch_ids[:300], session=session, grid=grid, reference=cache.get(session)
        )
        assert not any(o.changed for o in outcomes)
        assert _counts(session) == before
        assert [_story(session, b) for b in batch_ids[:300]] == stories


def test_the_cached_reference_follows_a_changed_rule(engine: Engine) -> None:
    cache = ReferenceCache(lambda _: RULES)
    with Session(engine) as session:
        first = cache.get(session)
        assert cache.get(session) is first  # unchanged: no reload
        rule = session.exec(select(RoutingRule).limit(1)).one()
        session.execute(
            update(RoutingRule).where(col(RoutingRule.id) == rule.id).values(priority=99)
        )
        session.commit()
        second = cache.get(session)
    assert second is not first and second.version != first.version
    assert any(r.priority == 99 for r in second.rules[rule.category_code])


@pytest.mark.postgres
def test_a_small_batch_is_filled_with_other_waiting_reports(
    tmp_path: Path, demo_grid: Grid
) -> None:
    """A worker handed one report routes the other published ones waiting with it, leaves
    duplicates and reports the API has not published yet alone, and the messages of the
    reports it routed then find nothing to do."""
    grid = ActiveGrid()
    cache = ReferenceCache(lambda _: RULES)
    with postgres_database() as url:
        seed_database(url, demo_grid)
        engine = make_engine(url)
        try:
            with Session(engine, expire_on_commit=False) as session:
                codes = sorted(session.exec(select(Category.code)).all())
                # One of each twin is left unpublished, as a report the API just stored.
                ids = [b for _, b in _twins(session, demo_grid, codes, 30)]
                given, waiting = ids[0], ids[1:20]
                duplicate, unpublished = ids[20], ids[21]
                now = utcnow()
                session.execute(update(Case).where(col(Case.id).in_(ids)).values(published_at=now))
                session.execute(
                    update(Case).where(col(Case.id) == duplicate).values(duplicate_of=given)
                )
                session.execute(
                    update(Case).where(col(Case.id) == unpublished).values(published_at=None)
                )
                session.commit()
                outcomes = route_batch(
                    [given], session=session, grid=grid, reference=cache.get(session), top_up=15
                )
                assert [o.case_id for o in outcomes] == [given] and outcomes[0].changed
                routed = set(
                    session.exec(select(Case.id).where(col(Case.routed_at).is_not(None))).all()
                )
                # Fifteen in all (the oldest published first; here all at one instant).
                assert given in routed and len(routed) == 15 and routed <= {given, *waiting}
                before = _counts(session)
                others = sorted(routed - {given})
                again = route_batch(
                    others, session=session, grid=grid, reference=cache.get(session), top_up=1
                )
                assert [o.case_id for o in again] == others
                assert not any(o.changed for o in again)
                assert _counts(session) == before
                # Filled up once more: the rest of the waiting, never the duplicate or the
                # report whose publish the API has not confirmed.
                route_batch([], session=session, grid=grid, reference=cache.get(session), top_up=50)
                left = set(session.exec(select(Case.id).where(col(Case.routed_at).is_(None))).all())
                assert left & set(ids) == {duplicate, unpublished}
        finally:
            engine.dispose()
