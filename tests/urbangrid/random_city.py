"""Cases and events drawn at random (seeded) through every state, for the rollup tests: with
and without filing, deadlines, closures and handling, on time and late, extended, reworked,
reopened, suspended and void, with deadlines falling on the day a running period is judged, and
with dispatches, returns and ratings held by changing departments; and the ``engine`` fixture,
the small city on SQLite and on PostgreSQL, is in ``conftest.py``.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, insert, select
from sqlmodel import Session

from tests.urbangrid.small_city import AREA1, AREA2
from urbangrid.core.tables import Case, CaseEvent
from urbangrid.domain.states import CaseState
from urbangrid.evaluation.formulas import Counts, parse_period
from urbangrid.evaluation.live import count_cases_live
from urbangrid.evaluation.read import count_cases
from urbangrid.evaluation.rollup_tables import (
    CLOCK_FACTS,
    EVENT_FACTS,
    FACTS,
    ROLLUPS,
    STEP_ROLLUPS,
    SUMMARIES,
    SUMMARY_PERIODS,
)
from urbangrid.evaluation.scope import Dimension, Scope

TZ_NAME = "Asia/Shanghai"
TZ = ZoneInfo(TZ_NAME)
CASES = Case.__table__  # type: ignore[attr-defined]
EVENTS = CaseEvent.__table__  # type: ignore[attr-defined]
DEPARTMENTS = ("dept-a", "dept-b", None)
CATEGORIES = ("E0199", "E0599", "E0102")
ACTIONS = ("dispatch", "redispatch", "return", "rate", "rate", "comment")
START = datetime(2026, 1, 1, tzinfo=TZ)
# Judged while Q2 runs (14:30 on 20 April), and after everything.
RUNNING_NOW = datetime(2026, 4, 20, 14, 30, tzinfo=TZ)
LATER_NOW = datetime(2026, 8, 1, 12, tzinfo=TZ)


def _moment(rng: random.Random, now: datetime) -> datetime:
    """Mostly anywhere in the first half of 2026; often on the day judged, or at midnight."""
    pick = rng.random()
    if pick < 0.15:
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return day + timedelta(minutes=rng.choice([0, 1, 600, 869, 870, 871, 1439]))
    if pick < 0.25:
        day = START + timedelta(days=rng.randrange(0, 180))
        return day + timedelta(microseconds=rng.choice([0, -1, 1]))
    return START + timedelta(minutes=rng.randrange(0, 180 * 24 * 60))


def _maybe(rng: random.Random, now: datetime, chance: float = 0.7) -> datetime | None:
    return _moment(rng, now) if rng.random() < chance else None


def random_cases(
    rng: random.Random, count: int, now: datetime = RUNNING_NOW
) -> list[dict[str, Any]]:
    rows = []
    for _ in range(count):
        area = rng.choice((AREA1, AREA2, (None, None, None, None)))
        created = _moment(rng, now)
        rows.append(
            {
                "tracking_token": f"t{rng.getrandbits(64):x}",
                "category_code": rng.choice(CATEGORIES),
                "input_crs": "wgs84",
                "input_lat": 31.2,
                "input_lon": 121.4,
                "lat": 31.2,
                "lon": 121.4,
                "state": rng.choice(list(CaseState)).value,
                "l1_code": area[0],
                "l2_code": area[1],
                "l3_code": area[2],
                "l4_code": area[3],
                "department_code": rng.choice(DEPARTMENTS),
                "created_at": created,
                "updated_at": created,
                "filed_at": _maybe(rng, now, 0.85),
                "dispatched_at": _maybe(rng, now),
                "handled_at": _maybe(rng, now),
                "closed_at": _maybe(rng, now),
                "deadline_at": _maybe(rng, now, 0.8),
                "case_deadline_at": _maybe(rng, now, 0.6),
                "extension_count": rng.choice((0, 0, 1, 2)),
                "rework_count": rng.choice((0, 0, 1)),
                "reopen_count": rng.choice((0, 0, 1)),
            }
        )
    return rows


def random_events(
    rng: random.Random, case_ids: list[int], count: int, now: datetime = RUNNING_NOW
) -> list[dict[str, Any]]:
    rows = []
    for _ in range(count):
        action = rng.choice(ACTIONS)
        detail: dict[str, Any] = {}
        if action == "rate" and rng.random() < 0.9:
            detail["score"] = rng.choice((1, 2, 3, 3.5, 4, 5))
        rows.append(
            {
                "case_id": rng.choice(case_ids),
                "at": _moment(rng, now),
                "action": action,
                "to_state": "CLOSED",
                "actor": "test",
                "role": "system",
                "detail": json.dumps(detail),
                "department_code": rng.choice(DEPARTMENTS),
            }
        )
    return rows


def load(engine: Engine, rng: random.Random, cases: int, events: int) -> list[int]:
    with engine.begin() as conn:
        conn.execute(insert(CASES), random_cases(rng, cases))
        ids = [int(i) for i in conn.execute(select(CASES.c.id)).scalars()]
        if events:
            conn.execute(insert(EVENTS), random_events(rng, ids, events))
    return ids


PERIODS = ("2026-Q1", "2026-Q2", "2026-03", "2026-04", "2026-02-03..2026-04-20", "7d", "30d")
SCOPES = (
    Scope(),
    Scope(department="dept-a"),
    Scope(area=AREA1[0]),
    Scope(area=AREA2[1]),
    Scope(area=AREA1[3]),
    Scope(category="E01"),
    Scope(category="E0599"),
    Scope(department="dept-b", area=AREA1[0], category="E05"),
)


def _same(found: dict[str | None, Counts], expected: dict[str | None, Counts], what: str) -> None:
    assert found.keys() == expected.keys(), what
    for key, counts in expected.items():
        got = found[key]
        assert got.handling_seconds == pytest.approx(counts.handling_seconds), (what, key)
        assert got._asdict() | {"handling_seconds": 0} == counts._asdict() | {
            "handling_seconds": 0
        }, (what, key)


def assert_exact(engine: Engine, now: datetime, *, periods: tuple[str, ...] = PERIODS) -> None:
    with Session(engine) as session:
        for label in periods:
            period = parse_period(label, tz=TZ, today=now.astimezone(TZ).date())
            for by in Dimension:
                for scope in SCOPES:
                    what = f"{label} by {by} {scope} at {now.isoformat()}"
                    _same(
                        count_cases(session, period=period, by=by, scope=scope, now=now),
                        count_cases_live(session, period=period, by=by, scope=scope, now=now),
                        what,
                    )


def rollup_tables(engine: Engine) -> tuple[Any, ...]:
    """Everything the refresher keeps, in a stable order, to compare two states."""
    with engine.connect() as conn:
        return tuple(
            sorted(
                tuple(
                    None if v is None else (round(v, 6) if isinstance(v, float) else v) for v in row
                )
                for row in conn.execute(select(*(c for c in table.c if c.name != "id")))
            )
            for table in (
                FACTS,
                EVENT_FACTS,
                ROLLUPS,
                SUMMARIES,
                SUMMARY_PERIODS,
                CLOCK_FACTS,
                STEP_ROLLUPS,
            )
        )
