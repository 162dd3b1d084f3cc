"""A randomised run through the staff API: every action the table refuses is refused (and
leaves no trace), every one it allows goes through, and replaying the events gives the state."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from geo.layer import Grid
from intake.app import create_app
from tests.intake.helpers import jpeg
from tests.staffing import auth, case_row, ensure_verify_category, report_and_route, staff_token
from urbangrid.db import make_engine
from urbangrid.domain.states import CaseState
from urbangrid.domain.workflow import TRANSITIONS, Role, allowed_actions, apply, replay
from urbangrid.settings import Settings
from urbangrid.tables import CaseEvent

ACTIONS = sorted(a for a in TRANSITIONS if a != "submit")
ROLES = ["operator", "supervisor", "shift_lead", "dispatcher", "department"]
OTHER_DEPARTMENT = "sanitation"


@pytest.fixture(scope="module")
def world(
    sqlite_url: str, tmp_path_factory: pytest.TempPathFactory, demo_grid: Grid
) -> Iterator[tuple[TestClient, Engine, Settings, dict[str, str]]]:
    engine = make_engine(sqlite_url)
    ensure_verify_category(engine)
    # Reports of our own making: none may join another as a duplicate, and many reports from
    # one test client are not abuse.
    config = Settings(
        database_url=sqlite_url,
        var_dir=tmp_path_factory.mktemp("var"),
        duplicate_radius_m=0,
        rate_limit_per_minute=0,
    )
    with TestClient(create_app(config)) as client:
        probe = report_and_route(client, engine, config, demo_grid, category="E0599", cell=99)
        office = f"so-{case_row(engine, probe).l2_code}"
        tokens = {role: staff_token(engine, role, "city") for role in ROLES if role != "department"}
        tokens[office] = staff_token(engine, "department", f"department:{office}")
        tokens[OTHER_DEPARTMENT] = staff_token(
            engine, "department", f"department:{OTHER_DEPARTMENT}"
        )
        tokens["office"] = office
        yield client, engine, config, tokens
    engine.dispose()


def events(engine: Engine, case_id: int) -> list[tuple[str, str]]:
    with Session(engine) as session:
        rows = session.exec(
            select(CaseEvent.action, CaseEvent.role)
            .where(CaseEvent.case_id == case_id)
            .order_by(col(CaseEvent.id))
        ).all()
    return [(action, role) for action, role in rows]


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rng=st.randoms(use_true_random=False), length=st.integers(min_value=1, max_value=80))
def test_random_actions_follow_the_table(
    world: tuple[TestClient, Engine, Settings, dict[str, str]],
    demo_grid: Grid,
    rng: random.Random,
    length: int,
) -> None:
    client, engine, config, tokens = world
    office = tokens["office"]
    case_id = report_and_route(client, engine, config, demo_grid, category="E0599", cell=99)
    uploaded = client.post(
        f"/api/v1/cases/{case_id}/photos",
        files=[("photos", ("p.jpg", jpeg(), "image/jpeg"))],
        headers=auth(tokens["supervisor"]),
    )
    assert uploaded.status_code == 201, uploaded.text
    photo = uploaded.json()["photos"][0]["ref"]
    categories = ["E0599", "E0507"]  # both answered by the street office: no automatic move
    taken = 0
    for _ in range(length):
        case = case_row(engine, case_id)
        state = CaseState(case.state)
        role = rng.choice(ROLES)
        # Mostly a step the table allows, so runs go deep into the loop (voiding, a dead end,
        # only by chance); else anything at all.
        legal = [a for a in allowed_actions(state, Role(role)) if a not in ("void", "not_found")]
        action = rng.choice(legal) if legal and rng.random() < 0.75 else rng.choice(ACTIONS)
        if role == "department":
            department = case.department_code
            token = tokens.get(department or "", tokens[OTHER_DEPARTMENT])
        else:
            token = tokens[role]
        body: dict[str, object] = {"reason": "because", "photos": [photo], "by": "1wh"}
        if action == "comment":
            body = {"note": "seen on my round", "photos": [photo]}
        if action in ("dispatch", "redispatch"):
            body["department"] = office
        if action == "reroute":
            body["department"] = OTHER_DEPARTMENT if case.department_code == office else office
        if action == "recategorize":
            body["category"] = categories[categories.index(case.category_code) - 1]
        before = events(engine, case_id)
        answer = client.post(
            f"/api/v1/cases/{case_id}/actions/{action}", json=body, headers=auth(token)
        )
        table_allows = action in allowed_actions(state, Role(role))
        visible = role != "department" or case.department_code in tokens
        if not table_allows:
            assert answer.status_code in (404, 409), (role, action, state, answer.text)
            if answer.status_code == 409:
                assert action not in answer.json()["allowed"]
                assert set(answer.json()["allowed"]) <= set(allowed_actions(state, Role(role)))
            assert events(engine, case_id) == before
            assert case_row(engine, case_id).state == state
            continue
        if not visible:
            assert answer.status_code == 404
            continue
        # Allowed by the table; refused only for the case's situation (no pending request to
        # deny, a request already waiting, escalated to the district already).
        assert answer.status_code in (200, 409), (role, action, state, answer.text)
        if answer.status_code == 409:
            assert events(engine, case_id) == before
            continue
        new = events(engine, case_id)[len(before) :]
        assert new[0] == (action, role)
        expected = apply(state, action, Role(role))
        # What automation does in the same step: flag a ping-pong, move a re-categorised case.
        for follow_up, by in new[1:]:
            assert by == "system" and follow_up in ("flag", "reroute"), new
            if follow_up in TRANSITIONS:
                expected = apply(expected, follow_up, Role.SYSTEM)
        assert answer.json()["state"] == expected
        taken += 1
    final = case_row(engine, case_id)
    print(f"{taken} of {length} steps taken, ended {final.state}")
    assert replay(events(engine, case_id)) == final.state
