"""A case left untouched goes at risk, overdue, then escalates to its street and district.

First with the clock stepped by hand and two sweeps racing at every step (SQLite and
PostgreSQL); then in real time with two schedulers, a worker and RabbitMQ.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
import shapely
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from geo.layer import Grid
from tests.processes import urbangrid_process, wait_until
from tests.reports import report_at
from urbangrid.cases.lifecycle import ConcurrentChange, record
from urbangrid.cases.workdays import case_policy, clock_rules
from urbangrid.core.columns import utcnow
from urbangrid.core.db import make_engine
from urbangrid.core.settings import Settings
from urbangrid.core.tables import Case, CaseEvent, Category, SlaClock
from urbangrid.domain.timelimits import parse_limits
from urbangrid.domain.workflow import Role
from workers.sla import advance_case, claim_due

T = TypeVar("T")


@pytest.fixture(params=["sqlite", "postgres"])
def own_database(request: pytest.FixtureRequest, tmp_path: Path, demo_grid: Grid) -> Iterator[str]:
    """A database of this test's own, so the sweep sees no other test's cases."""
    from tests.services import postgres_database
    from urbangrid.cases.seed import seed_reference
    from urbangrid.core.migrate import upgrade

    def seed(url: str) -> None:
        upgrade(url)
        engine = make_engine(url)
        with Session(engine) as session:
            seed_reference(session, demo_grid)
            session.commit()
        engine.dispose()

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sla.db'}"
        seed(url)
        yield url
    else:
        with postgres_database() as url:
            seed(url)
            yield url


def dispatched_case(engine: Engine, grid: Grid, settings: Settings, *, cell: int) -> int:
    """A case of exposed rubbish in ``cell``, filed and dispatched by rule as the router does."""
    codes = [grid[4].codes[cell]]
    for level in (4, 3, 2):
        layer = grid[level]
        codes.insert(0, layer.parents[layer.codes.index(codes[0])])
    point = shapely.point_on_surface(grid[4].geoms[cell])
    with Session(engine, expire_on_commit=False) as session:
        case = report_at(
            point.x,
            point.y,
            token=f"sla-{utcnow().timestamp()}-{cell}",
            category="E0102",
            location=point,
            l1_code=codes[0],
            l2_code=codes[1],
            l3_code=codes[2],
            l4_code=codes[3],
        )
        session.add(case)
        session.commit()
        rules = clock_rules(session, settings)
        record(session, case, "file", actor="system:router", role=Role.SYSTEM, rules=rules)
        record(
            session,
            case,
            "dispatch",
            actor="system:router",
            role=Role.SYSTEM,
            rules=rules,
            values={"department_code": f"sanitation-{codes[0]}"},
        )
        session.commit()
        assert case.id is not None
        return case.id


def retried(step: Callable[[], T]) -> T:
    """Run ``step`` as a task would be: again after a transient error."""
    for _ in range(50):
        try:
            return step()
        except (OperationalError, ConcurrentChange):
            continue  # SQLite refuses the second writer of a snapshot: the task is retried
    raise AssertionError("never got through")


def sweep(engine: Engine, settings: Settings, now: datetime) -> list[str]:
    """One sweep as the scheduler runs it, and the tasks it hands out."""

    def claim() -> list[int]:
        with Session(engine) as session:
            return claim_due(session, now=now, lease_s=60, batch=100)

    fired: list[str] = []
    for case_id in retried(claim):
        fired += advance(engine, settings, case_id, now)
    return fired


def advance(engine: Engine, settings: Settings, case_id: int, now: datetime) -> list[str]:
    """The task a sweep hands out for one case."""

    def step() -> list[str]:
        with Session(engine, expire_on_commit=False) as session:
            return advance_case(session, case_id, now=now, policy=case_policy(session, settings))

    return retried(step)


def marks(engine: Engine, case_id: int) -> list[tuple[str, str]]:
    with Session(engine) as session:
        rows = session.execute(
            select(CaseEvent.action, CaseEvent.detail)
            .where(CaseEvent.case_id == case_id)
            .where(CaseEvent.action.in_(["warn", "overdue", "escalate"]))  # type: ignore[attr-defined]
            .order_by(CaseEvent.id)  # type: ignore[arg-type]
        ).all()
    return [(action, json.loads(detail)["clock"]) for action, detail in rows]


def test_untouched_case_escalates_once_per_limit_with_racing_sweeps(
    own_database: str, demo_grid: Grid, tmp_path: Path
) -> None:
    url = own_database
    settings = Settings(database_url=url, var_dir=tmp_path)
    engine = make_engine(url)
    case_id = dispatched_case(engine, demo_grid, settings, cell=60)
    with Session(engine) as session:
        handle = session.execute(
            select(SlaClock).where(SlaClock.case_id == case_id, SlaClock.stage == "handle")
        ).scalar_one()
        case = session.get(Case, case_id)
        assert case is not None and case.state == "DISPATCHED"
        street, district = case.l2_code, case.l1_code
    with Session(engine) as session:
        rules = clock_rules(session, settings)
    second_limit = rules.add(handle.deadline_at, parse_limits(handle.limit))
    second = timedelta(seconds=1)

    def race(now: datetime) -> list[str]:
        """Two sweeps at once, and the case's task delivered a second time beside them."""
        with ThreadPoolExecutor(3) as pool:
            runs = [pool.submit(sweep, engine, settings, now) for _ in range(2)]
            runs.append(pool.submit(advance, engine, settings, case_id, now))
            return sorted(mark for run in runs for mark in run.result())

    assert race(handle.warn_at - second) == []
    assert race(handle.warn_at + second) == ["warn:handle"]
    assert race(handle.warn_at + 2 * second) == []
    assert race(handle.deadline_at + second) == ["escalate:2", "overdue:handle"]
    with Session(engine) as session:
        case = session.get(Case, case_id)
        assert case is not None and case.escalation_level == 1 and case.escalated_to == street
    assert race(second_limit - second) == []
    assert race(second_limit + second) == ["escalate:1"]
    with Session(engine) as session:
        case = session.get(Case, case_id)
        assert case is not None and case.escalation_level == 2 and case.escalated_to == district
        clock = session.get(SlaClock, handle.id)
        assert clock is not None and clock.next_at is None  # at the district: nothing further
    assert marks(engine, case_id) == [
        ("warn", "handle"),
        ("overdue", "handle"),
        ("escalate", "handle"),
        ("escalate", "handle"),
    ]
    engine.dispose()


QUICK = "E0598"  # a category with limits of seconds, so real sweeps can be watched


@pytest.fixture
def quick_category(pg_url: str) -> Iterator[str]:
    engine = make_engine(pg_url)
    with Session(engine) as session:
        if session.get(Category, QUICK) is None:
            session.add(
                Category(
                    code=QUICK,
                    name_zh="测试",
                    name_en="Seconds-long test category",
                    family="event",
                    major="05",
                    minor="98",
                    department_kind="street_office",
                    time_limit="0.1min",  # 6 s to handle: warned at 4.8 s, overdue at 6 s
                    file_limit="0.05min",
                    dispatch_limit="0.05min",
                    check_limit="1h",
                    case_limit="1h",
                )
            )
            session.commit()
    engine.dispose()
    yield QUICK


@pytest.mark.postgres
@pytest.mark.rabbitmq
def test_real_sweeps_fire_each_mark_within_one_interval(
    pg_url: str, amqp_url: str, quick_category: str, demo_grid: Grid, tmp_path: Path
) -> None:
    from tests.test_pipeline import service_values, settings_for
    from workers.app import make_celery

    interval = 1.0
    values = service_values(pg_url, amqp_url, tmp_path / "var")
    values["URBANGRID_SLA_SWEEP_INTERVAL_S"] = str(interval)
    second = dict(values, URBANGRID_VAR_DIR=str(tmp_path / "var2"))
    engine = make_engine(pg_url)
    point = shapely.point_on_surface(demo_grid[max(demo_grid)].geoms[77])
    with (
        urbangrid_process(
            ["worker", "-Q", "routing,sla,periodic"], values, tmp_path / "worker.log"
        ),
        urbangrid_process(["scheduler"], values, tmp_path / "scheduler-1.log"),
        urbangrid_process(["scheduler"], second, tmp_path / "scheduler-2.log"),
    ):
        with Session(engine, expire_on_commit=False) as session:
            token = f"quick-{utcnow().timestamp()}"
            case = report_at(point.x, point.y, token=token, category=quick_category, location=point)
            session.add(case)
            session.commit()
            case_id = case.id
        celery = make_celery(settings_for(values))
        celery.send_task("urbangrid.route_case", args=[case_id])
        celery.close()

        def escalated_twice() -> bool:
            with Session(engine) as session:
                found = session.get(Case, case_id)
                return found is not None and found.escalation_level == 2

        assert wait_until(escalated_twice, 60, interval=0.2), (tmp_path / "worker.log").read_text()[
            -3000:
        ]
        # A further sweep or two must add nothing.
        import time

        time.sleep(3 * interval)
    with Session(engine) as session:
        events = (
            session.execute(
                select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)  # type: ignore[arg-type]
            )
            .scalars()
            .all()
        )
        case = session.get(Case, case_id)
        assert case is not None
    engine.dispose()
    sla_events = [e for e in events if e.action in ("warn", "overdue", "escalate")]
    assert [(e.action, json.loads(e.detail)["clock"]) for e in sla_events] == [
        ("warn", "handle"),
        ("overdue", "handle"),
        ("escalate", "handle"),
        ("escalate", "handle"),
    ]
    assert [json.loads(e.detail)["to"] for e in sla_events[2:]] == [case.l2_code, case.l1_code]
    lags = [
        (e.at - datetime.fromisoformat(json.loads(e.detail)["due_at"])).total_seconds()
        for e in sla_events
    ]
    print("SLA mark lags after their due time (s):", [round(lag, 2) for lag in lags])
    # No mark is recorded before its deadline has passed (how soon after is the sweep
    # benchmark's business, never a timed assertion on a shared machine).
    assert all(lag >= 0 for lag in lags), lags
