"""The staff API: the whole closed loop by the roles the table names, scopes, refusals."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from geo.layer import Grid
from tests.staffing import (  # noqa: F401 (the settings and client fixtures)
    act,
    act_with_photos,
    auth,
    case_row,
    ensure_verify_category,
    report_and_route,
    staff_client,
    staff_settings,
    staff_token,
)
from urbangrid.core.db import make_engine
from urbangrid.core.settings import Settings
from urbangrid.core.tables import CaseEvent, StaffToken
from urbangrid.domain.calendar import OfficialCalendar
from urbangrid.domain.timelimits import add_limit, parse_limit
from urbangrid.domain.workflow import TRANSITIONS, replay

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    ensure_verify_category(engine)
    yield engine
    engine.dispose()


def event_count(engine: Engine, case_id: int) -> int:
    with Session(engine) as session:
        return int(
            session.execute(
                select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id)  # type: ignore[arg-type]
            ).scalar_one()
        )


def test_a_citizen_report_walks_the_whole_loop(
    client: TestClient, engine: Engine, settings: Settings, demo_grid: Grid
) -> None:
    case_id = report_and_route(
        client, engine, settings, demo_grid, category="E0599", cell=21, description="堆物占道"
    )
    case = case_row(engine, case_id)
    assert case.state == "REPORTED" and case.l2_code and case.stage == "file"
    street, office = case.l2_code, f"so-{case.l2_code}"
    operator = staff_token(engine, "operator", "city")
    supervisor = staff_token(engine, "supervisor", f"grid:{street}")
    lead = staff_token(engine, "shift_lead", "city")
    dispatcher = staff_token(engine, "dispatcher", "city")
    department = staff_token(engine, "department", f"department:{office}")

    act(client, operator, case_id, "request_verification", note="please check on site")
    act_with_photos(client, supervisor, case_id, "verify")
    filed = act(client, lead, case_id, "file")
    assert filed["state"] == "FILED" and filed["stage"] == "dispatch"
    # The filing clock ran from the resident's report, not from when a worker saw it.
    first = {c["stage"]: c for c in reversed(filed["clocks"])}
    assert first["file"]["started_at"] == first["case"]["started_at"] == filed["created_at"]
    assert first["file"]["stopped_at"] == filed["filed_at"]
    # No rule for this category: the street office of the case's street is suggested.
    assert filed["suggestion"]["department"] == office
    dispatched = act(client, dispatcher, case_id, "dispatch")
    assert dispatched["department"] == office
    handling_deadline = datetime.fromisoformat(dispatched["deadline_at"])
    dispatched_at = datetime.fromisoformat(dispatched["dispatched_at"])
    assert handling_deadline == add_limit(
        dispatched_at, parse_limit("4wh"), calendar=OfficialCalendar(), tz=TZ
    )
    act(client, department, case_id, "accept")

    asked = act(client, department, case_id, "request_extension", by="1wd", reason="parts")
    assert asked["pending_request"] == "extension"
    assert "request_suspension" not in asked["allowed_actions"]
    extended = act(client, lead, case_id, "extend")
    assert extended["extension_count"] == 1 and extended["pending_request"] is None
    moved = datetime.fromisoformat(extended["deadline_at"])
    assert moved == add_limit(
        handling_deadline, parse_limit("1wd"), calendar=OfficialCalendar(), tz=TZ
    )

    act(client, department, case_id, "request_suspension", reason="rain all week")
    suspended = act(client, lead, case_id, "suspend")
    assert suspended["state"] == "SUSPENDED"
    assert {c["status"] for c in suspended["clocks"] if c["stopped_at"] is None} == {"paused"}
    resumed = act(client, lead, case_id, "resume")
    assert resumed["state"] == "IN_PROGRESS"
    # Suspended for a moment: pushed by at most that much working time.
    pushed = datetime.fromisoformat(resumed["deadline_at"])
    assert moved <= pushed < moved + timedelta(minutes=1)

    missing = client.post(
        f"/api/v1/cases/{case_id}/actions/handle", json={}, headers=auth(department)
    )
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "photos"]
    act_with_photos(client, department, case_id, "handle")
    failed = act(client, supervisor, case_id, "check_fail", reason="still there")
    assert failed["state"] == "IN_PROGRESS" and failed["rework_count"] == 1
    assert failed["deadline_at"] == resumed["deadline_at"]  # rework does not reset the clock
    act_with_photos(client, department, case_id, "handle", note="cleared")
    act_with_photos(client, supervisor, case_id, "check_pass")
    closed = act(client, lead, case_id, "close")
    assert closed["state"] == "CLOSED" and closed["closed_at"] and closed["stage"] is None

    timeline = [(e["action"], e["role"]) for e in closed["timeline"]]
    assert timeline == [
        ("submit", "citizen"),
        ("locate", "system"),
        ("request_verification", "operator"),
        ("verify", "supervisor"),
        ("file", "shift_lead"),
        ("dispatch", "dispatcher"),
        ("accept", "department"),
        ("request_extension", "department"),
        ("extend", "shift_lead"),
        ("request_suspension", "department"),
        ("suspend", "shift_lead"),
        ("resume", "shift_lead"),
        ("handle", "department"),
        ("check_fail", "supervisor"),
        ("handle", "department"),
        ("check_pass", "supervisor"),
        ("close", "shift_lead"),
    ]
    for action, role in timeline[1:]:
        if action in TRANSITIONS:
            assert role in TRANSITIONS[action].roles
    assert replay(timeline) == "CLOSED"
    assert [(p["kind"], p["action"]) for p in closed["photos"]] == [
        ("before", "verify"),
        ("after", "handle"),
        ("after", "handle"),
        ("after", "check_pass"),
    ]
    assert all(p["ref"] == f"photo:{p['id']}" for p in closed["photos"])
    assert {c["stage"]: c["status"] for c in closed["clocks"]}["file"] in ("met", "late")
    assert all(c["stopped_at"] for c in closed["clocks"])

    before = event_count(engine, case_id)
    refused = client.post(
        f"/api/v1/cases/{case_id}/actions/handle", json={"photos": ["x"]}, headers=auth(department)
    )
    assert refused.status_code == 409
    assert refused.json()["state"] == "CLOSED" and refused.json()["allowed"] == ["comment"]
    assert (
        client.post(
            f"/api/v1/cases/{case_id}/actions/reopen",
            json={"reason": "not fixed"},
            headers=auth(lead),
        ).status_code
        == 200
    )
    assert event_count(engine, case_id) == before + 1


def test_a_department_sees_and_acts_only_on_its_own_cases(
    client: TestClient, engine: Engine, settings: Settings, demo_grid: Grid
) -> None:
    # Bike clutter has no rule: each case goes to the street office of its own street.
    cases = {}
    for cell in range(0, len(demo_grid[4].codes), 37):
        case_id = report_and_route(client, engine, settings, demo_grid, category="E0506", cell=cell)
        case = case_row(engine, case_id)
        cases.setdefault(case.department_code, case_id)
        if len(cases) == 2:
            break
    (office_a, case_a), (office_b, case_b) = sorted(cases.items())
    token_a = staff_token(engine, "department", f"department:{office_a}")
    token_b = staff_token(engine, "department", f"department:{office_b}")

    assert client.get(f"/api/v1/cases/{case_a}", headers=auth(token_a)).status_code == 200
    hidden = client.get(f"/api/v1/cases/{case_b}", headers=auth(token_a))
    assert hidden.status_code == 404 and "E0506" not in hidden.text
    listed = client.get("/api/v1/cases", params={"limit": 500}, headers=auth(token_a)).json()
    assert {item["department"] for item in listed["items"]} == {office_a}
    assert case_b not in {item["id"] for item in listed["items"]}
    other = client.get("/api/v1/cases", params={"department": office_b}, headers=auth(token_a))
    assert other.json()["total"] == 0
    before = event_count(engine, case_b)
    for action in ("accept", "return"):
        answer = client.post(
            f"/api/v1/cases/{case_b}/actions/{action}",
            json={"reason": "not ours"},
            headers=auth(token_a),
        )
        assert answer.status_code == 404, answer.text
    assert event_count(engine, case_b) == before
    act(client, token_b, case_b, "accept")

    # Grid staff see their area only; a head reads but never acts.
    street_b = case_row(engine, case_b).l2_code
    supervisor_a = staff_token(engine, "supervisor", f"grid:{case_row(engine, case_a).l2_code}")
    if street_b != case_row(engine, case_a).l2_code:
        assert client.get(f"/api/v1/cases/{case_b}", headers=auth(supervisor_a)).status_code == 404
    head = staff_token(engine, "head", "city")
    assert client.get(f"/api/v1/cases/{case_b}", headers=auth(head)).json()["allowed_actions"] == []
    forbidden = client.post(f"/api/v1/cases/{case_b}/actions/escalate", json={}, headers=auth(head))
    assert forbidden.status_code == 403


def test_tokens_are_required_hashed_and_revocable(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    assert client.get("/api/v1/cases").status_code == 401
    assert client.get("/api/v1/cases", headers=auth("ugs_nonsense")).status_code == 401
    token = staff_token(engine, "dispatcher", "city", name="dispatcher-hash-check")
    with Session(engine) as session:
        stored = session.execute(select(StaffToken.token_hash)).scalars().all()
    assert token not in stored and all(len(h) == 64 for h in stored)
    assert client.get("/api/v1/auth/me", headers=auth(token)).json()["role"] == "dispatcher"

    from urbangrid.cases.staff import create_staff, revoke_tokens

    with Session(engine) as session:
        account = create_staff(session, "lead-login", "shift_lead", "grid:31", password="s3cret!")
        session.commit()
        answer = client.post("/api/v1/auth/login", json={"name": "lead-login", "password": "no"})
        assert answer.status_code == 401
        answer = client.post(
            "/api/v1/auth/login", json={"name": "lead-login", "password": "s3cret!"}
        )
        assert answer.status_code == 200
        login_token = answer.json()["token"]
        assert client.get("/api/v1/auth/me", headers=auth(login_token)).json()["scope"] == "grid:31"
        revoke_tokens(session, account)
        session.commit()
    assert client.get("/api/v1/auth/me", headers=auth(login_token)).status_code == 401


def test_illegal_actions_answer_409_with_the_allowed_ones(
    client: TestClient, engine: Engine, settings: Settings, demo_grid: Grid
) -> None:
    case_id = report_and_route(client, engine, settings, demo_grid, category="E0102", cell=5)
    assert case_row(engine, case_id).state == "DISPATCHED"
    lead = staff_token(engine, "shift_lead", "city")
    answer = client.post(f"/api/v1/cases/{case_id}/actions/close", json={}, headers=auth(lead))
    assert answer.status_code == 409
    assert answer.json()["allowed"] == ["escalate", "recategorize", "comment"]
    unknown = client.post(f"/api/v1/cases/{case_id}/actions/teleport", json={}, headers=auth(lead))
    assert unknown.status_code == 404
    bad = client.post(
        f"/api/v1/cases/{case_id}/actions/recategorize",
        json={"category": "E9"},
        headers=auth(lead),
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "category"
    escalated = act(client, lead, case_id, "escalate", note="residents called twice")
    case = case_row(engine, case_id)
    assert escalated["escalation_level"] == 1 and escalated["escalated_to"] == case.l2_code
    act(client, lead, case_id, "escalate")
    capped = client.post(f"/api/v1/cases/{case_id}/actions/escalate", json={}, headers=auth(lead))
    assert capped.status_code == 409 and "escalate" not in capped.json()["allowed"]
    assert case_row(engine, case_id).escalated_to == case.l1_code


def test_filing_under_another_class_sets_its_limits(
    client: TestClient, engine: Engine, settings: Settings, demo_grid: Grid
) -> None:
    case_id = report_and_route(client, engine, settings, demo_grid, category="E0599", cell=23)
    lead = staff_token(engine, "shift_lead", "city")
    dispatcher = staff_token(engine, "dispatcher", "city")
    filed = act(client, lead, case_id, "file", category="E0507", note="piled materials")
    assert filed["category"] == "E0507"
    assert filed["timeline"][-1]["detail"]["previous_category"] == "E0599"
    whole = next(c for c in filed["clocks"] if c["stage"] == "case")
    assert whole["limit"] == "1wh+1wh+1wd+1wd"  # E0507's stages, one after another
    dispatched = act(client, dispatcher, case_id, "dispatch")
    handle = next(c for c in dispatched["clocks"] if c["stage"] == "handle")
    assert handle["limit"] == "1wd"
    assert dispatched["deadline_at"] == handle["deadline_at"]


def test_the_public_view_by_id_shows_no_names_or_notes(
    client: TestClient, engine: Engine, settings: Settings, demo_grid: Grid
) -> None:
    case_id = report_and_route(client, engine, settings, demo_grid, category="E0599", cell=33)
    operator = staff_token(engine, "operator", "city", name="王芳")
    act(client, operator, case_id, "request_verification", note="居民电话 13800000000，请核实")
    shown = client.get(f"/api/v1/reports/{case_id}").json()
    assert [e["action"] for e in shown["events"]][-1] == "request_verification"
    last = shown["events"][-1]
    assert last["text_en"] == "A grid supervisor is checking on site" and last["public_note"] == ""
    text = str(shown)
    assert "王芳" not in text and "13800000000" not in text and "actor" not in text
    # Staff see the note and who wrote it.
    detail = client.get(f"/api/v1/cases/{case_id}", headers=auth(operator)).json()
    assert "13800000000" in str(detail)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/cases/99999999999999999999",
        "/api/v1/cases/2147483648",
        "/api/v1/cases/0",
        "/api/v1/reports/99999999999999999999",
    ],
)
def test_case_ids_beyond_the_database_are_refused_naming_the_id(
    client: TestClient, engine: Engine, path: str
) -> None:
    operator = staff_token(engine, "operator", "city")
    answer = client.get(path, headers=auth(operator))
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"][-1] in {"case_id", "report_id"}
    acted = client.post(f"{path}/actions/file", json={}, headers=auth(operator))
    assert acted.status_code in {404, 422}, acted.text
