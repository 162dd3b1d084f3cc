"""The synthetic season: deterministic, legal at every step, the same as ``record`` would keep,
and counted alike by SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from tests.reports import report_at, store_submitted
from tests.services import postgres_database
from tests.urbangrid.small_city import AREA1, AREA2, seed_small_city
from urbangrid.cases.lifecycle import record
from urbangrid.cases.seed import upsert_department
from urbangrid.core.db import make_engine
from urbangrid.domain.routing import Rule
from urbangrid.domain.sla import ClockRules
from urbangrid.domain.states import CaseState
from urbangrid.domain.taxonomy import load_taxonomy
from urbangrid.domain.timelimits import WeekendCalendar
from urbangrid.domain.workflow import Role, replay
from urbangrid.evaluation.formulas import parse_period
from urbangrid.evaluation.queue import open_now
from urbangrid.evaluation.read import count_cases
from urbangrid.evaluation.scope import Dimension
from urbangrid.history.city import Kind, Place
from urbangrid.history.records import CaseRecord
from urbangrid.history.store import insert_cases
from urbangrid.history.synthetic import Season

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 6, 30, 4, tzinfo=UTC)
START = NOW - timedelta(days=120)
DEPARTMENTS = ["dept-a", "dept-b", "enforcement"]


RULES = ClockRules(WeekendCalendar(), TZ)


def season(seed: int = 7) -> Season:
    taxonomy = load_taxonomy()
    kinds = [
        Kind.of(
            c.code,
            handle=c.time_limit,
            file=c.file_limit,
            dispatch=c.dispatch_limit,
            check=c.check_limit,
            case=c.case_limit,
            needs_verification=c.needs_verification,
        )
        for c in taxonomy.categories
    ]
    rules = [
        Rule(n, c.code, "", "dept-a" if c.code.startswith("E") else "dept-b")
        for n, c in enumerate(taxonomy.categories, start=1)
    ]
    places = [Place(AREA1, 121.2, 31.2), Place(AREA2, 122.2, 31.2)]
    return Season(
        places=places,
        kinds=kinds,
        rules=rules,
        street_offices={AREA1[1]: "dept-b"},
        departments=DEPARTMENTS,
        clock_rules=RULES,
        seed=seed,
    )


def generate(count: int, seed: int = 7) -> list[CaseRecord]:
    return list(season(seed).cases(count, start=START, now=NOW))


def test_the_same_seed_gives_the_same_season() -> None:
    assert generate(300) == generate(300)
    assert generate(300) != generate(300, seed=8)


def test_every_case_replays_to_its_state_and_the_season_reaches_every_state() -> None:
    cases = generate(4000)
    visited: Counter[str] = Counter()
    for synthetic in cases:
        events = synthetic.events
        assert replay((e["action"], e["role"]) for e in events) == synthetic.case["state"]
        assert [e["at"] for e in events] == sorted(e["at"] for e in events)
        assert all(START <= e["at"] <= NOW for e in events)
        visited.update(e["to_state"] for e in events)
    assert set(visited) == set(CaseState), set(CaseState) - set(visited)
    final = Counter(c.case["state"] for c in cases)
    for state in ("CLOSED", "IN_PROGRESS", "SUSPENDED", "VOID"):
        assert final[state] > 0, final
    # Departments differ: closure times spread per department.
    hours: dict[str, list[float]] = {}
    for c in cases:
        if c.case["state"] == "CLOSED" and c.case["dispatched_at"]:
            spent = (c.case["handled_at"] - c.case["dispatched_at"]).total_seconds() / 3600
            hours.setdefault(c.case["department_code"], []).append(spent)
    medians = sorted(sorted(v)[len(v) // 2] for v in hours.values() if len(v) > 50)
    assert len(medians) >= 2 and medians[-1] > 1.5 * medians[0], medians


@pytest.fixture
def small_city(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'small.db'}"
    seed_small_city(url)
    engine = make_engine(url)
    with Session(engine) as session:
        upsert_department(session, "enforcement", "城管执法", "enforcement")
        session.commit()
    engine.dispose()
    yield url


def _values(synthetic: CaseRecord, event: dict[str, Any]) -> dict[str, Any]:
    detail = json.loads(event["detail"])
    case = synthetic.case
    if event["action"] == "file":
        codes = ("l1_code", "l2_code", "l3_code", "l4_code")
        return {**{k: case[k] for k in codes}, "routed_at": event["at"]}
    if event["action"] in ("dispatch", "redispatch"):
        return {"department_code": detail["department"]}
    if event["action"] == "escalate":
        return {"escalated_to": detail["to"]}
    return {}


def test_record_keeps_the_same_columns_as_the_season(small_city: str) -> None:
    """Every synthetic step replayed through ``lifecycle.record`` lands on the same row."""
    cases = generate(250, seed=11)
    engine = make_engine(small_city)
    columns = (
        "state",
        "department_code",
        "deadline_at",
        "filed_at",
        "dispatched_at",
        "handled_at",
        "closed_at",
        "rework_count",
        "return_count",
        "extension_count",
        "reopen_count",
        "escalation_level",
        "escalated_to",
        "stage",
        "stage_deadline_at",
        "case_deadline_at",
    )
    with Session(engine) as session:
        for synthetic in cases:
            first = synthetic.events[0]
            report = report_at(
                121.2,
                31.2,
                token=synthetic.case["tracking_token"],
                category=synthetic.case["category_code"],
                created_at=first["at"],
                updated_at=first["at"],
            )
            case = store_submitted(session, report, actor=first["actor"], role=first["role"])
            for event in synthetic.events[1:]:
                recorded = record(
                    session,
                    case,
                    event["action"],
                    actor=event["actor"],
                    role=Role(event["role"]),
                    at=event["at"],
                    detail=json.loads(event["detail"]),
                    values=_values(synthetic, event),
                    rules=RULES,
                )
                assert recorded.department_code == event["department_code"], event
            for column in columns:
                assert getattr(case, column) == synthetic.case[column], (column, synthetic.case)
        session.rollback()
    engine.dispose()


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The same season in SQLite and in PostgreSQL."""

    def fill(url: str) -> None:
        seed_small_city(url)
        engine = make_engine(url)
        with Session(engine) as session:
            upsert_department(session, "enforcement", "城管执法", "enforcement")
            session.commit()
        with engine.begin() as connection:
            insert_cases(connection, generate(3000, seed=5), grid_version_id=1, rules=RULES)
        engine.dispose()

    sqlite = f"sqlite:///{tmp_path_factory.mktemp('twins') / 'twin.db'}"
    fill(sqlite)
    with postgres_database() as postgres:
        fill(postgres)
        yield sqlite, postgres


@pytest.mark.postgres
@pytest.mark.parametrize("dimension", list(Dimension))
def test_sqlite_and_postgresql_count_alike(twins: tuple[str, str], dimension: Dimension) -> None:
    found = []
    for url in twins:
        engine = make_engine(url)
        with Session(engine) as session:
            figures = {}
            for label in ("2026-Q2", "2026-03", "30d"):
                period = parse_period(label, tz=TZ, today=NOW.astimezone(TZ).date())
                counted = count_cases(session, period=period, by=dimension, now=NOW)
                figures[label] = {
                    k: {**v._asdict(), "handling_seconds": round(v.handling_seconds)}
                    for k, v in counted.items()
                }
            figures["open"] = {
                k: v.__dict__ for k, v in open_now(session, by=dimension, now=NOW).items()
            }
        engine.dispose()
        found.append(figures)
    assert found[0] == found[1]
    assert found[0]["2026-Q2"], "the season has cases in the quarter"
