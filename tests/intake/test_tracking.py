"""A resident follows a report with its token: comment and photo while open, rate and ask to
reopen after closure; a report near an open case of the same category joins that case."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from geo.layer import Grid
from tests.intake.conftest import MakeClient
from tests.intake.helpers import cell_points, jpeg
from urbangrid.columns import utcnow
from urbangrid.db import make_engine
from urbangrid.domain.workflow import Role
from urbangrid.lifecycle import record
from urbangrid.settings import Settings
from urbangrid.tables import Case, CaseEvent
from urbangrid.workdays import clock_rules

CLOSING = ["file", "dispatch", "accept", "handle", "check_pass", "close"]


def advance(url: str, case_id: int, actions: list[str], at: datetime | None = None) -> None:
    """Staff's steps, recorded as the staff API and the router record them."""
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        case = session.get(Case, case_id)
        assert case is not None
        rules = clock_rules(session, Settings(database_url=url))
        for action in actions:
            record(session, case, action, actor="test:staff", role=Role.SYSTEM, at=at, rules=rules)
        session.commit()
    engine.dispose()


def events(url: str, case_id: int) -> list[CaseEvent]:
    engine = make_engine(url)
    with Session(engine) as session:
        found = list(
            session.exec(
                select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)  # type: ignore[arg-type]
            )
        )
    engine.dispose()
    return found


def submit(client: TestClient, point: tuple[float, float], **extra: object) -> dict[str, object]:
    lon, lat = point
    answer = client.post(
        "/api/v1/reports",
        json={"category": "E0102", "lat": lat, "lon": lon, "description": "rubbish", **extra},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_resident_comments_then_rates_and_asks_to_reopen(
    client: TestClient, sqlite_url: str, demo_grid: Grid
) -> None:
    accepted = submit(client, cell_points(demo_grid, 1, seed=201)[0], contact="13812345678")
    token, case_id = accepted["tracking_token"], int(accepted["id"])  # type: ignore[call-overload]
    view = client.get(f"/api/v1/track/{token}").json()
    assert view["state"] == "REPORTED" and view["status"] == "open"
    assert view["actions"] == ["comment", "photo"]
    assert view["status_zh"] and view["status_en"] == "Received, being assigned"

    view = client.post(f"/api/v1/track/{token}/comments", json={"text": "still there"}).json()
    assert view["timeline"][-1]["action"] == "comment" and view["timeline"][-1]["yours"]
    refused = client.post(f"/api/v1/track/{token}/rating", json={"score": 5})
    assert refused.status_code == 409 and "rate" in refused.json()["detail"]

    advance(sqlite_url, case_id, CLOSING)
    view = client.get(f"/api/v1/track/{token}").json()
    assert view["state"] == "CLOSED" and view["actions"] == ["rate", "reopen"]
    closed = datetime.fromisoformat(view["timeline"][-1]["at"])
    assert datetime.fromisoformat(view["reopen_until"]) == closed + timedelta(days=7)
    assert client.post(f"/api/v1/track/{token}/comments", json={"text": "x"}).status_code == 409

    view = client.post(
        f"/api/v1/track/{token}/rating", json={"score": 2, "comment": "half done"}
    ).json()
    assert view["rating"] == 2 and view["actions"] == ["reopen"]
    assert client.post(f"/api/v1/track/{token}/rating", json={"score": 5}).status_code == 409
    view = client.post(f"/api/v1/track/{token}/reopen", json={"reason": "bags are back"}).json()
    assert view["actions"] == []
    assert client.post(f"/api/v1/track/{token}/reopen", json={"reason": "again"}).status_code == 409

    log = events(sqlite_url, case_id)
    mine = [e for e in log if e.action in ("comment", "rate", "reopen_request")]
    assert [e.action for e in mine] == ["comment", "rate", "reopen_request"]
    assert all(e.role == "citizen" and e.actor == f"citizen:{case_id}" for e in mine)
    assert json.loads(mine[1].detail) == {"report": case_id, "score": 2}
    assert log[-1].to_state == "CLOSED"  # notes never move the state


def test_reopen_window_is_configurable_and_closes(
    make_client: MakeClient, sqlite_url: str, demo_grid: Grid
) -> None:
    client = make_client(reopen_window_days=3)
    accepted = submit(client, cell_points(demo_grid, 1, seed=202)[0])
    token = accepted["tracking_token"]
    advance(sqlite_url, int(accepted["id"]), CLOSING, at=utcnow() - timedelta(days=4))  # type: ignore[call-overload]
    view = client.get(f"/api/v1/track/{token}").json()
    assert view["actions"] == ["rate"]
    refused = client.post(f"/api/v1/track/{token}/reopen", json={"reason": "not fixed"})
    assert refused.status_code == 409
    assert client.post(f"/api/v1/track/{token}/rating", json={"score": 4}).status_code == 200


def test_photo_added_while_open(client: TestClient, sqlite_url: str, demo_grid: Grid) -> None:
    accepted = submit(client, cell_points(demo_grid, 1, seed=203)[0])
    token = accepted["tracking_token"]
    answer = client.post(
        f"/api/v1/track/{token}/photos",
        data={"note": "from the other side"},
        files=[("photos", ("b.jpg", jpeg(), "image/jpeg"))],
    )
    assert answer.status_code == 200, answer.text
    view = answer.json()
    assert len(view["photos"]) == 1 and view["photos"][0]["ready"] is False
    assert view["timeline"][-1]["action"] == "photo"
    bad = client.post(
        f"/api/v1/track/{token}/photos", files=[("photos", ("x.jpg", b"text", "image/jpeg"))]
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "photos"
    advance(sqlite_url, int(accepted["id"]), CLOSING)  # type: ignore[call-overload]
    late = client.post(
        f"/api/v1/track/{token}/photos", files=[("photos", ("c.jpg", jpeg(), "image/jpeg"))]
    )
    assert late.status_code == 409


def test_unknown_and_malformed_tokens(client: TestClient) -> None:
    assert client.get("/api/v1/track/" + "A" * 32).status_code == 404
    assert client.get("/api/v1/track/short").status_code == 422
    assert (
        client.post("/api/v1/track/" + "A" * 32 + "/comments", json={"text": "x"}).status_code
        == 404
    )


def link(url: str, case_id: int) -> str:
    """The worker's step for a report that joined an open case."""
    from workers.duplicates import link_duplicate

    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        rules = clock_rules(session, Settings(database_url=url))
        state = link_duplicate(case_id, session=session, rules=rules)
    engine.dispose()
    return state


def _free_point(url: str, grid: Grid, category: str, seed: int) -> tuple[float, float]:
    """A cell with no open case of ``category`` within 500 m (the database is shared)."""
    from urbangrid.domain.residents import distance_m

    engine = make_engine(url)
    with Session(engine) as session:
        taken = [
            (c.lat, c.lon) for c in session.exec(select(Case).where(Case.category_code == category))
        ]
    engine.dispose()
    for lon, lat in cell_points(grid, 50, seed=seed):
        if all(distance_m(lat, lon, a, b) > 500 for a, b in taken):
            return lon, lat
    raise AssertionError("no free cell found")


def test_a_report_near_an_open_case_joins_it(
    make_client: MakeClient, sqlite_url: str, demo_grid: Grid
) -> None:
    client = make_client(duplicate_radius_m=250)
    lon, lat = _free_point(sqlite_url, demo_grid, "C0401", seed=204)
    first = client.post("/api/v1/reports", json={"category": "C0401", "lat": lat, "lon": lon})
    assert first.status_code == 201 and first.json()["duplicate_of"] is None
    parent = first.json()["id"]
    # 100 m north, same category: the same fallen tree.
    near = client.post(
        "/api/v1/reports",
        json={"category": "C0401", "lat": lat + 0.0009, "lon": lon, "contact": "a@b.cn"},
    )
    assert near.status_code == 201, near.text
    body = near.json()
    assert body["duplicate_of"] == parent and body["state"] == "REPORTED"
    # Another category at the same spot, or the same category 600 m away, is a case of its own.
    other = client.post("/api/v1/reports", json={"category": "C0302", "lat": lat, "lon": lon})
    assert other.json()["duplicate_of"] is None
    far = client.post(
        "/api/v1/reports", json={"category": "C0401", "lat": lat + 0.0054, "lon": lon}
    )
    assert far.json()["duplicate_of"] is None

    # The resident follows the case at once; the worker then voids the report as a duplicate.
    view = client.get(f"/api/v1/track/{body['tracking_token']}").json()
    assert view["case_id"] == parent
    assert link(sqlite_url, body["id"]) == "VOID"
    assert link(sqlite_url, body["id"]) == "VOID"  # a second run changes nothing
    view = client.get(f"/api/v1/track/{body['tracking_token']}").json()
    assert view["id"] == body["id"] and view["case_id"] == parent
    assert view["duplicate_of"] == parent and view["state"] == "REPORTED"
    assert view["actions"] == ["comment", "photo"]
    client.post(f"/api/v1/track/{body['tracking_token']}/comments", json={"text": "me too"})
    parent_log = events(sqlite_url, parent)
    assert [e.action for e in parent_log] == ["submit", "duplicate", "comment"]
    assert json.loads(parent_log[1].detail) == {"report": body["id"]}
    assert json.loads(parent_log[2].detail) == {"report": body["id"]}
    child_log = events(sqlite_url, body["id"])
    assert [(e.action, e.to_state) for e in child_log] == [("submit", "REPORTED"), ("void", "VOID")]
    assert json.loads(child_log[1].detail) == {"duplicate_of": parent}
    # The parent's own reporter hears that someone else reported it too, but does not see the
    # joined resident's comment.
    parent_view = client.get(f"/api/v1/track/{first.json()['tracking_token']}").json()
    assert [e["action"] for e in parent_view["timeline"]] == ["submit", "duplicate"]
    assert parent_view["timeline"][1]["text_en"] == "Another resident reported the same problem"


def test_contact_details_never_appear_in_public_views(
    client: TestClient, sqlite_url: str, demo_grid: Grid
) -> None:
    secret = "13912345678 li.wei@example.cn"
    accepted = submit(client, cell_points(demo_grid, 1, seed=205)[0], contact=secret)
    case_id = accepted["id"]
    pages = [
        client.get(f"/api/v1/reports/{case_id}").text,
        client.get(f"/api/v1/track/{accepted['tracking_token']}").text,
        client.get(f"/open311/v2/requests/{case_id}.json?extensions=true").text,
        client.get(f"/open311/v2/requests/{case_id}.xml?extensions=true").text,
        client.get("/open311/v2/requests.json?extensions=true").text,
        client.get("/open311/v2/servicerequestupdates.xml").text,
    ]
    for page in pages:
        assert "13912345678" not in page and "li.wei" not in page
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        stored = session.get(Case, case_id)
        assert stored is not None and stored.contact == secret  # kept, for notices only
    engine.dispose()


def test_rate_limit_answers_429_with_retry_after(make_client: MakeClient, demo_grid: Grid) -> None:
    client = make_client(rate_limit_per_minute=6, rate_limit_burst=3)
    points = cell_points(demo_grid, 4, seed=206)
    statuses = []
    for lon, lat in points:
        answer = client.post("/api/v1/reports", json={"category": "E0505", "lat": lat, "lon": lon})
        statuses.append(answer.status_code)
    assert statuses == [201, 201, 201, 429]
    assert 1 <= int(answer.headers["Retry-After"]) <= 10
    assert client.get("/api/v1/categories").status_code == 200  # reading is not limited


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("comments", {"text": ""}, "text"),
        ("comments", {"text": "x" * 2001}, "text"),
        ("rating", {"score": 6}, "score"),
        ("rating", {"score": 0, "comment": "bad"}, "score"),
        ("reopen", {"reason": "x", "extra": 1}, "extra"),
    ],
)
def test_bad_follow_up_is_refused_naming_the_field(
    client: TestClient, demo_grid: Grid, path: str, body: dict[str, object], field: str
) -> None:
    accepted = submit(client, cell_points(demo_grid, 1, seed=207)[0])
    answer = client.post(f"/api/v1/track/{accepted['tracking_token']}/{path}", json=body)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"][-1] == field
