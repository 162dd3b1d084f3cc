"""The sweep in sets records exactly what advancing each case alone records, and only once."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from geo.layer import Grid
from tests.conftest import seed_database
from tests.services import postgres_database
from tests.workers.test_route_batch import RULES, _counts, _story, _twins, _varied_reference
from urbangrid.cases.casework import Policy
from urbangrid.cases.reference import ReferenceCache
from urbangrid.core.columns import utcnow
from urbangrid.core.db import make_engine
from urbangrid.core.grids import ActiveGrid
from workers.batch_routing import route_batch
from workers.sla import advance_batch, advance_case, claim_due

POLICY = Policy(rules=RULES)


@pytest.fixture
def pg_engine(demo_grid: Grid) -> Iterator[Engine]:
    with postgres_database() as url:
        seed_database(url, demo_grid)
        engine = make_engine(url)
        yield engine
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.timeout(1800)
def test_a_set_advances_as_each_case_alone(pg_engine: Engine, demo_grid: Grid) -> None:
    grid = ActiveGrid()
    cache = ReferenceCache(lambda _: RULES)
    now = utcnow()
    with Session(pg_engine, expire_on_commit=False) as session:
        codes = _varied_reference(session)
        pairs = _twins(session, demo_grid, codes, 1000)
        ids = [i for pair in pairs for i in pair]
        for start in range(0, len(ids), 200):
            route_batch(ids[start : start + 200], session=session, grid=grid,
                        reference=cache.get(session), now=now)  # fmt: skip
    # Each pair's clocks put back by the same random span (up to ten days): some only warned,
    # some overdue, some escalated up to the district.
    rng = np.random.default_rng(5)
    with pg_engine.begin() as conn:
        for alone, batch in pairs:
            conn.execute(
                text(
                    "UPDATE sla_clock SET started_at = started_at - make_interval(mins => :m), "
                    "next_at = :now WHERE case_id IN (:a, :b) AND stopped_at IS NULL"
                ),
                {"m": int(rng.integers(0, 14_400)), "now": now, "a": alone, "b": batch},
            )
    later = now + timedelta(seconds=1)
    with Session(pg_engine, expire_on_commit=False) as session:
        claimed = claim_due(session, now=later, lease_s=60, batch=10_000)
        assert set(claimed) == set(ids)
        alone_fired = {a: advance_case(session, a, now=later, policy=POLICY) for a, _ in pairs}
        batch_ids = [b for _, b in pairs]
        batch_fired: dict[int, list[str]] = {}
        for start in range(0, len(batch_ids), 200):
            batch_fired |= advance_batch(
                session, batch_ids[start : start + 200], now=later, policy=POLICY
            )
    kinds: set[str] = set()
    with Session(pg_engine) as session:
        for alone, batch in pairs:
            assert batch_fired[batch] == alone_fired[alone]
            assert _story(session, batch) == _story(session, alone), (alone, batch)
            kinds |= {mark.split(":")[0] for mark in batch_fired[batch]}
    assert kinds == {"warn", "overdue", "escalate"}

    # A second sweep at the same moment, or the same set delivered again: nothing more.
    with Session(pg_engine, expire_on_commit=False) as session:
        before = _counts(session)
        again = advance_batch(session, batch_ids[:200], now=later, policy=POLICY)
        assert all(marks == [] for marks in again.values())
        assert _counts(session) == before

    # Two sweeps racing on the same set (their marks due again): each mark recorded once.
    racing = batch_ids[:200]
    with pg_engine.begin() as conn:
        first_new = conn.execute(text("SELECT max(id) FROM case_events")).scalar_one()
        conn.execute(
            text(
                "UPDATE sla_clock SET step = 0, next_at = :now "
                "WHERE case_id = ANY(:ids) AND stopped_at IS NULL"
            ),
            {"now": later, "ids": racing},
        )

    def sweep(_: int) -> dict[int, list[str]]:
        with Session(pg_engine, expire_on_commit=False) as session:
            return advance_batch(session, racing, now=later, policy=POLICY)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(sweep, range(2)))
    fired = sum(len(marks) for result in results for marks in result.values())
    with pg_engine.connect() as conn:
        new = conn.execute(
            text("SELECT case_id, action, detail FROM case_events WHERE id > :first"),
            {"first": first_new},
        ).all()
    assert fired == len(new) > 0
    assert len(set(new)) == len(new)  # no mark twice
