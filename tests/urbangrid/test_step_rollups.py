"""The rollups of who took each step (the evaluation per role) give exactly the live counts,
before and after changes, on SQLite and on PostgreSQL."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert, select, update
from sqlmodel import Session

from tests.urbangrid.random_city import (  # engine: the fixture
    CASES,
    LATER_NOW,
    PERIODS,
    RUNNING_NOW,
    TZ,
    TZ_NAME,
    _maybe,
    _moment,
    load,
    rollup_tables,
)
from urbangrid.evaluation.days import period_days
from urbangrid.evaluation.formulas import parse_period
from urbangrid.evaluation.refresh import refresh
from urbangrid.evaluation.role_counts import count_steps, count_steps_live
from urbangrid.evaluation.rollup_tables import (
    CLOCKS,
    STEP_ROLLUPS,
)
from urbangrid.evaluation.scope import Scope

STAGES = ("file", "dispatch", "handle", "check", "case", "case")
STOPPERS = (("shift_lead", "lead1"), ("dispatcher", "disp1"), ("department", None), (None, None))


def random_clocks(
    rng: random.Random, case_ids: list[int], count: int, now: datetime = RUNNING_NOW
) -> list[dict[str, Any]]:
    rows = []
    for _ in range(count):
        started = _moment(rng, now)
        stopped = _maybe(rng, now, 0.6)
        role, actor = rng.choice(STOPPERS)
        deadline = _moment(rng, now)
        rows.append(
            {
                "case_id": rng.choice(case_ids),
                "stage": rng.choice(STAGES),
                "started_at": started,
                "limit": "1wh",
                "extended": "",
                "paused_s": 0.0,
                "paused_at": started if rng.random() < 0.1 else None,
                "stopped_at": stopped,
                "stopped_by": actor if stopped else None,
                "stopped_role": role if stopped else None,
                "step": 0,
                "deadline_at": deadline,
                "warn_at": deadline,
            }
        )
    return rows


STEP_SCOPES = (Scope(), Scope(department="dept-a"), Scope(department="dept-b"))


def assert_steps_exact(
    engine: Engine, now: datetime, *, periods: tuple[str, ...] = PERIODS
) -> None:
    with Session(engine) as session:
        for label in periods:
            period = parse_period(label, tz=TZ, today=now.astimezone(TZ).date())
            for scope in STEP_SCOPES:
                for by_actor in (False, True):
                    what = f"{label} {scope} by_actor={by_actor} at {now.isoformat()}"
                    found = count_steps(
                        session, period=period, scope=scope, now=now, by_actor=by_actor
                    )
                    live = count_steps_live(
                        session, period=period, scope=scope, now=now, by_actor=by_actor
                    )
                    assert found.keys() == live.keys(), what
                    for key, counts in live.items():
                        assert found[key][:4] == counts[:4], (what, key)
                        assert found[key].seconds == pytest.approx(counts.seconds), (what, key)


def test_step_rollups_equal_live_counts_before_and_after_changes(engine: Engine) -> None:
    rng = random.Random(29)
    ids = load(engine, rng, 200, 0)
    with engine.begin() as conn:
        conn.execute(insert(CLOCKS), random_clocks(rng, ids, 900))
    refresh(engine, tz=TZ_NAME, now=RUNNING_NOW)
    with engine.connect() as conn:
        assert conn.execute(select(STEP_ROLLUPS.c.id)).first() is not None
    for now in (RUNNING_NOW, LATER_NOW):
        assert_steps_exact(engine, now)
    # Proof that the rollups are read: a sum changed by hand shows, and is then put back.
    q1 = parse_period("2026-Q1", tz=TZ, today=LATER_NOW.date())
    with Session(engine) as session:
        before = count_steps(session, period=q1, now=LATER_NOW)
        with engine.begin() as conn:
            days = period_days(q1, TZ)
            assert days is not None
            row = conn.execute(
                select(STEP_ROLLUPS.c.id)
                .where(STEP_ROLLUPS.c.day1 >= days[0], STEP_ROLLUPS.c.day1 < days[1])
                .limit(1)
            ).scalar_one()
            conn.execute(
                update(STEP_ROLLUPS)
                .where(STEP_ROLLUPS.c.id == row)
                .values(n=STEP_ROLLUPS.c.n + 100)
            )
        after = count_steps(session, period=q1, now=LATER_NOW)
        assert sum(c.due for c in after.values()) == sum(c.due for c in before.values()) + 100
        with engine.begin() as conn:
            conn.execute(
                update(STEP_ROLLUPS)
                .where(STEP_ROLLUPS.c.id == row)
                .values(n=STEP_ROLLUPS.c.n - 100)
            )
    # Clocks stop, pause, resume and move department with their case; new clocks start; a
    # case goes with its clocks. Each marks its case, and the readers overlay it at once.
    with engine.begin() as conn:
        clock_ids = [int(i) for i in conn.execute(select(CLOCKS.c.id)).scalars()]
        for clock_id in rng.sample(clock_ids, 80):
            conn.execute(
                update(CLOCKS)
                .where(CLOCKS.c.id == clock_id)
                .values(
                    stopped_at=_maybe(rng, RUNNING_NOW, 0.8),
                    stopped_by=rng.choice(("lead2", None)),
                    stopped_role="shift_lead",
                    paused_at=rng.choice((None, None, RUNNING_NOW)),
                    deadline_at=_moment(rng, RUNNING_NOW),
                )
            )
        conn.execute(update(CASES).where(CASES.c.id == ids[0]).values(department_code="dept-b"))
        conn.execute(insert(CLOCKS), random_clocks(rng, ids[1:30], 40))
        conn.execute(delete(CASES).where(CASES.c.id == ids[-1]))
    periods = ("2026-Q1", "2026-Q2", "2026-04", "30d")
    assert_steps_exact(engine, RUNNING_NOW, periods=periods)
    done = refresh(engine, tz=TZ_NAME, now=RUNNING_NOW)
    assert not done.full and done.cases > 0
    assert_steps_exact(engine, RUNNING_NOW, periods=periods)
    assert_steps_exact(engine, LATER_NOW, periods=periods)
    incremental = rollup_tables(engine)
    refresh(engine, tz=TZ_NAME, full=True, now=RUNNING_NOW)
    assert rollup_tables(engine) == incremental
