"""The staff loop on residents' photo reports: after-photos with the step, internal and public
words, photo moderation, and what the public may read of it all."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from geo.layer import Grid
from tests.intake.conftest import MakeClient
from tests.intake.helpers import cell_points, cut_short, grained, jpeg
from tests.intake.test_photo_reports import process_all
from tests.staffing import (
    act,
    act_with_photos,
    auth,
    case_row,
    ensure_verify_category,
    staff_token,
)
from urbangrid.cases.workdays import clock_rules
from urbangrid.core.db import make_engine
from urbangrid.core.grids import ActiveGrid
from urbangrid.core.settings import Settings
from urbangrid.core.tables import CaseEvent, Photo
from workers.routing import route_case

OPEN311 = "/open311/v2"
SECRET = "the foreman says the contractor is 2 weeks late"


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    ensure_verify_category(engine)  # a category filed by hand, to void before dispatch
    yield engine
    engine.dispose()


@pytest.fixture
def client(make_client: MakeClient, engine: Engine) -> TestClient:
    return make_client()


def photo_report(
    client: TestClient,
    engine: Engine,
    grid: Grid,
    *,
    seed: int,
    category: str = "E0102",
    photo: bytes | None = None,
) -> dict[str, Any]:
    """A resident's report with a photo of its own (photos are stored by content: tests in
    the shared database must not share one), routed as the worker routes it."""
    lon, lat = cell_points(grid, 1, seed=seed)[0]
    photo = photo or jpeg((640 + seed % 97, 480), colour=(200, 40, 40))
    answer = client.post(
        "/api/v1/reports",
        data={"category": category, "lat": str(lat), "lon": str(lon), "description": "井盖破损"},
        files=[("photos", ("before.jpg", photo, "image/jpeg"))],
    )
    assert answer.status_code == 201, answer.text
    accepted: dict[str, Any] = answer.json()
    settings = Settings(database_url=str(engine.url))
    with Session(engine, expire_on_commit=False) as session:
        route_case(
            accepted["id"],
            session=session,
            grid=ActiveGrid(),
            rules=clock_rules(session, settings),
        )
    return accepted


def events_of(engine: Engine, case_id: int) -> int:
    with Session(engine) as session:
        return int(
            session.execute(
                select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id)  # type: ignore[arg-type]
            ).scalar_one()
        )


def photos_of(engine: Engine, case_id: int) -> int:
    with Session(engine) as session:
        return int(
            session.execute(
                select(func.count()).select_from(Photo).where(Photo.case_id == case_id)  # type: ignore[arg-type]
            ).scalar_one()
        )


def public_texts(client: TestClient, accepted: dict[str, Any]) -> list[str]:
    """Everything the public can read of a case, as text."""
    case_id, token = accepted["id"], accepted["tracking_token"]
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    return [
        client.get(f"/api/v1/track/{token}").text,
        client.get(f"/api/v1/reports/{case_id}").text,
        client.get(f"{OPEN311}/requests/{case_id}.json").text,
        client.get(f"{OPEN311}/requests/{case_id}.json?extensions=true").text,
        client.get(f"{OPEN311}/requests/{case_id}.xml?extensions=true").text,
        client.get(f"{OPEN311}/servicerequestupdates.json?start_date={since}").text,
        client.get(f"{OPEN311}/servicerequestupdates.xml?start_date={since}").text,
    ]


def test_a_photo_report_is_carried_to_closed_with_an_after_photo_and_a_public_note(
    client: TestClient, engine: Engine, sqlite_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    accepted = photo_report(client, engine, demo_grid, seed=1101)
    case_id = accepted["id"]
    assert process_all(sqlite_url, tmp_path / "var", case_id) == ["ready"]
    case = case_row(engine, case_id)
    assert case.state == "DISPATCHED" and case.department_code
    department = staff_token(engine, "department", f"department:{case.department_code}")
    supervisor = staff_token(engine, "supervisor", "city")
    lead = staff_token(engine, "shift_lead", "city")

    # The case with the resident's photo reads (it answered 500 before).
    shown = client.get(f"/api/v1/cases/{case_id}", headers=auth(department))
    assert shown.status_code == 200, shown.text
    assert [p["kind"] for p in shown.json()["photos"]] == ["before"]

    # No body at all: accept needs nothing.
    accepted_step = client.post(f"/api/v1/cases/{case_id}/actions/accept", headers=auth(department))
    assert accepted_step.status_code == 200, accepted_step.text
    handled = act_with_photos(
        client,
        department,
        case_id,
        "handle",
        note="replaced cover, invoice 4471",
        public_note="The manhole cover was replaced.",
    )
    assert handled["state"] == "HANDLED"
    after = [p for p in handled["photos"] if p["kind"] == "after"]
    assert len(after) == 1 and after[0]["action"] == "handle"
    assert handled["timeline"][-1]["public_note"] == "The manhole cover was replaced."
    assert handled["timeline"][-1]["note"] == "replaced cover, invoice 4471"
    checked = client.post(f"/api/v1/cases/{case_id}/actions/check_pass", headers=auth(supervisor))
    assert checked.status_code == 200, checked.text
    closed = client.post(
        f"/api/v1/cases/{case_id}/actions/close",
        headers={**auth(lead), "Content-Type": "application/json"},
        content=b"",
    )
    assert closed.status_code == 200 and closed.json()["state"] == "CLOSED", closed.text

    assert process_all(sqlite_url, tmp_path / "var", case_id) == ["ready"]
    tracked = client.get(f"/api/v1/track/{accepted['tracking_token']}").json()
    assert [p["kind"] for p in tracked["photos"]] == ["before", "after"]
    for photo in tracked["photos"]:
        assert client.get(photo["url"]).status_code == 200
    notes = [e["note"] for e in tracked["timeline"]]
    assert "The manhole cover was replaced." in notes
    assert tracked["timeline"][-1]["state"] == "CLOSED"
    for text in public_texts(client, accepted):
        assert "invoice 4471" not in text


def test_handling_with_an_after_photo_cut_short_is_refused_and_the_case_stays_in_progress(
    client: TestClient, engine: Engine, demo_grid: Grid, tmp_path: Path
) -> None:
    # Handling needs an after-photo. One the worker cannot decode was taken as that photo: the
    # case went to HANDLED, and the resident was shown the fix with no photo of it.
    accepted = photo_report(client, engine, demo_grid, seed=1113)
    case_id = accepted["id"]
    department = staff_token(
        engine, "department", f"department:{case_row(engine, case_id).department_code}"
    )
    act(client, department, case_id, "accept")
    steps = events_of(engine, case_id)
    photos = photos_of(engine, case_id)
    raw_dir = tmp_path / "var" / "media"
    raws = sorted(p for p in raw_dir.rglob("*") if p.is_file())  # the resident's, not yet processed
    answer = client.post(
        f"/api/v1/cases/{case_id}/actions/handle",
        data={"note": "new cover fitted", "public_note": "The cover was replaced."},
        files=[("photos", ("after.jpg", cut_short(grained(fmt="JPEG")), "image/jpeg"))],
        headers=auth(department),
    )
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", "photos"]
    assert error["msg"].startswith("photos[0] (after.jpg): incomplete or damaged jpeg image")
    assert case_row(engine, case_id).state == "IN_PROGRESS"
    assert events_of(engine, case_id) == steps
    assert photos_of(engine, case_id) == photos
    assert sorted(p for p in raw_dir.rglob("*") if p.is_file()) == raws
    # Sent whole, the same step goes through.
    handled = act_with_photos(client, department, case_id, "handle", note="new cover fitted")
    assert handled["state"] == "HANDLED"


def test_reasons_stay_internal_and_public_notes_are_published(
    client: TestClient, engine: Engine, demo_grid: Grid
) -> None:
    accepted = photo_report(client, engine, demo_grid, seed=1102)
    case_id = accepted["id"]
    case = case_row(engine, case_id)
    department = staff_token(engine, "department", f"department:{case.department_code}")
    act(
        client,
        department,
        case_id,
        "return",
        reason=SECRET,
        public_note="This goes to the right office.",
    )
    tracked = client.get(f"/api/v1/track/{accepted['tracking_token']}").json()
    assert "This goes to the right office." in [e["note"] for e in tracked["timeline"]]
    for text in public_texts(client, accepted):
        assert SECRET not in text
    # Staff in scope read the reason.
    lead = staff_token(engine, "shift_lead", "city")
    staff_view = client.get(f"/api/v1/cases/{case_id}", headers=auth(lead)).json()
    assert SECRET in str(staff_view["timeline"])

    # A void's reason stays internal too, and the void case's photos are taken down.
    second = photo_report(client, engine, demo_grid, seed=1103, category="E0599")
    assert case_row(engine, second["id"]).state == "REPORTED"
    voided = act(client, lead, second["id"], "void", reason="prank: " + SECRET)
    assert voided["state"] == "VOID"
    for text in public_texts(client, second):
        assert SECRET not in text
    assert client.get(f"/api/v1/track/{second['tracking_token']}").json()["photos"] == []


def test_a_resident_who_joined_sees_the_public_timeline_only(
    make_client: MakeClient, engine: Engine, demo_grid: Grid
) -> None:
    client = make_client(duplicate_radius_m=50)  # type: ignore[no-redef]
    first = photo_report(client, engine, demo_grid, seed=1104)
    lon, lat = cell_points(demo_grid, 1, seed=1104)[0]
    joined = client.post(
        "/api/v1/reports", json={"category": "E0102", "lat": lat, "lon": lon}
    ).json()
    assert joined["duplicate_of"] == first["id"]
    case = case_row(engine, first["id"])
    department = staff_token(engine, "department", f"department:{case.department_code}")
    act(client, department, first["id"], "comment", note=SECRET)
    act(client, department, first["id"], "comment", public_note="Crew on the way.")
    view = client.get(f"/api/v1/track/{joined['tracking_token']}").json()
    assert view["case_id"] == first["id"]
    assert SECRET not in str(view)
    assert "Crew on the way." in [e["note"] for e in view["timeline"]]


def test_photo_references_must_be_this_cases_photos(
    client: TestClient, engine: Engine, demo_grid: Grid
) -> None:
    mine = photo_report(client, engine, demo_grid, seed=1105)
    other = photo_report(client, engine, demo_grid, seed=1106)
    case = case_row(engine, mine["id"])
    department = staff_token(engine, "department", f"department:{case.department_code}")
    assert act(client, department, mine["id"], "accept")["state"] == "IN_PROGRESS"
    before = events_of(engine, mine["id"])
    for ref in ("photo:999999", "javascript:alert(1)", f"photo:{other['photos'][0]}", ""):
        answer = client.post(
            f"/api/v1/cases/{mine['id']}/actions/handle",
            json={"photos": ["photo:" + str(mine["photos"][0]), ref]},
            headers=auth(department),
        )
        assert answer.status_code == 422, (ref, answer.text)
        assert answer.json()["detail"][0]["loc"][-1] in ("photos[1]", 1), answer.text
    # Refused as multipart too, with a file that would otherwise be stored: nothing stays.
    with Session(engine) as session:
        photos_before = session.execute(select(func.count()).select_from(Photo)).scalar_one()
    answer = client.post(
        f"/api/v1/cases/{mine['id']}/actions/handle",
        data={"note": "done"},
        files=[
            ("photos", ("after.jpg", jpeg(), "image/jpeg")),
            ("photos", (None, "photo:999999")),
        ],
        headers=auth(department),
    )
    assert answer.status_code == 422 and "photo:999999" in answer.text
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(Photo)).scalar_one() == (
            photos_before
        )
    assert events_of(engine, mine["id"]) == before
    assert case_row(engine, mine["id"]).state == "IN_PROGRESS"
    # The resident's own before-photo may be named: it is this case's.
    done = act(client, department, mine["id"], "handle", photos=[f"photo:{mine['photos'][0]}"])
    assert done["state"] == "HANDLED"


def test_readers_attach_no_photos_and_binary_bodies_get_a_422(
    client: TestClient, engine: Engine, demo_grid: Grid
) -> None:
    accepted = photo_report(client, engine, demo_grid, seed=1107)
    files = [("photos", ("x.jpg", jpeg(), "image/jpeg"))]
    for role in ("head", "admin"):
        token = staff_token(engine, role, "city")
        upload = client.post(
            f"/api/v1/cases/{accepted['id']}/photos", files=files, headers=auth(token)
        )
        assert upload.status_code == 403, upload.text
        step = client.post(
            f"/api/v1/cases/{accepted['id']}/actions/comment", files=files, headers=auth(token)
        )
        assert step.status_code == 403, step.text
    # A photo sent where JSON is expected: a 422 naming the body, not a 500.
    answer = client.post(
        f"/api/v1/track/{accepted['tracking_token']}/comments",
        files=[("text", ("x.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x80\x81", "image/jpeg"))],
    )
    assert answer.status_code == 422, answer.text
