"""Inputs a careless or hostile client sends: each answers 4xx naming the field, never a 5xx.

Every input here once answered 500 (issue 12): numbers past Python's digit limit or a 32-bit
column, digits of other scripts, NUL where PostgreSQL cannot store it, days outside
``datetime``'s range once shifted to UTC, and an extension of a million years.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from geo.layer import Grid
from intake.apikeys import create_key
from intake.app import create_app
from tests.intake.open311_helpers import xml_data
from tests.staffing import act, auth, case_row, cell_point, report_and_route, staff_token
from urbangrid.core.db import make_engine
from urbangrid.core.settings import Settings
from urbangrid.core.tables import Case

DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


class Stack:
    def __init__(self, client: TestClient, engine: Engine, settings: Settings) -> None:
        self.client, self.engine, self.settings = client, engine, settings
        self.lead = staff_token(engine, "shift_lead", "city")


@pytest.fixture(scope="module", params=DATABASES)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    settings = Settings(
        database_url=url,
        var_dir=tmp_path_factory.mktemp("var"),
        duplicate_radius_m=0,
        rate_limit_per_minute=0,
    )
    engine = make_engine(url)
    with TestClient(create_app(settings)) as client:
        yield Stack(client, engine, settings)
    engine.dispose()


def refused(answer: Any, field: str, status: int = 422) -> None:
    """A JSON refusal that names ``field`` in FastAPI's shape."""
    assert answer.status_code == status, answer.text
    locations = [error["loc"] for error in answer.json()["detail"]]
    assert any(loc[-1] == field for loc in locations), locations


def open311_refused(answer: Any, field: str, status: int = 400) -> None:
    """The standard's error document naming ``field``, in the format the path asked for."""
    assert answer.status_code == status, answer.text
    if answer.headers["content-type"].startswith("text/xml"):
        _, errors = xml_data(answer.text)
    else:
        errors = answer.json()
    assert any(field in str(error["description"]) for error in errors), errors


TOO_MANY_DIGITS = "9" * 4301


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("given", [TOO_MANY_DIGITS, "²", "①", "1,²", "٣", "0", "-1", "2147483648"])
def test_open311_request_ids_that_are_not_ids(stack: Stack, fmt: str, given: str) -> None:
    listed = stack.client.get(f"/open311/v2/requests.{fmt}", params={"service_request_id": given})
    open311_refused(listed, "service_request_id")
    one = stack.client.get(f"/open311/v2/requests/{given}.{fmt}")
    assert one.status_code in (400, 404), one.text


def test_open311_updates_at_the_ends_of_time(stack: Stack) -> None:
    for start in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "1900-01-01T00:00Z"):
        answer = stack.client.get(
            "/open311/v2/servicerequestupdates.json", params={"start_date": start}
        )
        open311_refused(answer, "start_date")
    answer = stack.client.get(
        "/open311/v2/requests.xml", params={"end_date": "9999-12-31T23:59:59-12:00"}
    )
    open311_refused(answer, "end_date")
    fine = stack.client.get(
        "/open311/v2/servicerequestupdates.json",
        params={"start_date": "2026-01-01T00:00:00+14:00", "end_date": "2026-01-02T00:00:00Z"},
    )
    assert fine.status_code == 200, fine.text


@pytest.mark.parametrize(
    "query",
    [
        {"offset": "2465994683972562611125354496"},
        {"offset": "-1"},
        {"department": "so-\x00"},
        {"flag": "a\x00b"},
        {"limit": "9" * 5000},
    ],
)
def test_case_queue_queries_out_of_bounds(stack: Stack, query: dict[str, str]) -> None:
    answer = stack.client.get("/api/v1/cases", params=query, headers=auth(stack.lead))
    refused(answer, next(iter(query)))


def test_a_queue_offset_past_every_case_is_an_empty_page(stack: Stack) -> None:
    answer = stack.client.get(
        "/api/v1/cases", params={"offset": 10_000_000}, headers=auth(stack.lead)
    )
    assert answer.status_code == 200 and answer.json()["items"] == []


@pytest.mark.parametrize(
    "path", ["departments", "streets", "roles", "trend", "open/departments", "ranking"]
)
@pytest.mark.parametrize(
    "query",
    [
        {"period": "0001-01-01..9999-12-31"},
        {"period": "9999"},
        {"period": "0001-Q1"},
        {"period": "0000-01"},
        {"department": "\x00"},
        {"area": "31\x00"},
        {"category": "E\x0001"},
    ],
)
def test_metric_queries_out_of_bounds(stack: Stack, path: str, query: dict[str, str]) -> None:
    field = next(iter(query))
    if (path, field == "period") in (("ranking", False), ("open/departments", True)):
        pytest.skip("the route takes no such parameter")
    # Signed in, so the bounds are what refuses the query, not the missing token.
    answer = stack.client.get(f"/api/v1/metrics/{path}", params=query, headers=auth(stack.lead))
    refused(answer, field)


@pytest.mark.parametrize("field", ["note", "reason"])
def test_nul_in_a_staff_note_or_reason(stack: Stack, field: str, demo_grid: Grid) -> None:
    case_id = report_and_route(
        stack.client, stack.engine, stack.settings, demo_grid, category="E0102", cell=41
    )
    answer = stack.client.post(
        f"/api/v1/cases/{case_id}/actions/escalate",
        json={field: "see\x00here"},
        headers=auth(stack.lead),
    )
    refused(answer, field)
    for bad in ("\ufffe", "\uffff", "\x1b[31m", "\udfff"):
        answer = stack.client.post(
            f"/api/v1/cases/{case_id}/actions/escalate",
            content=f'{{"{field}": "x{bad}"}}'.encode("utf-8", "surrogatepass"),
            headers={**auth(stack.lead), "Content-Type": "application/json"},
        )
        assert 400 <= answer.status_code < 500, answer.text


def test_an_extension_of_a_million_years_is_refused(stack: Stack, demo_grid: Grid) -> None:
    case_id = report_and_route(
        stack.client, stack.engine, stack.settings, demo_grid, category="E0102", cell=43
    )
    office = case_row(stack.engine, case_id).department_code
    department = staff_token(stack.engine, "department", f"department:{office}")
    act(stack.client, department, case_id, "accept")
    for by in ("999999999wd", "1e9wd", "251wd", "100000000h"):
        answer = stack.client.post(
            f"/api/v1/cases/{case_id}/actions/request_extension",
            json={"by": by, "reason": "parts"},
            headers=auth(department),
        )
        refused(answer, "by")
        answer = stack.client.post(
            f"/api/v1/cases/{case_id}/actions/extend", json={"by": by}, headers=auth(stack.lead)
        )
        assert answer.status_code in (409, 422), answer.text
    asked = act(stack.client, department, case_id, "request_extension", by="5wd", reason="parts")
    assert asked["pending_request"] == "extension"
    extended = act(stack.client, stack.lead, case_id, "extend")
    assert extended["extension_count"] == 1


FORBIDDEN_IN_XML = ["\ufffe", "\uffff", "\ufdd0", "\U0001fffe", "\x00", "\x0b", "\x1f"]


@pytest.mark.parametrize("char", FORBIDDEN_IN_XML)
def test_text_xml_cannot_carry_is_refused_at_intake(
    stack: Stack, char: str, demo_grid: Grid
) -> None:
    lon, lat = cell_point(demo_grid, 45)
    report = {"category": "E0102", "lat": lat, "lon": lon, "description": f"井盖{char}坏了"}
    refused(stack.client.post("/api/v1/reports", json=report), "description")
    refused(
        stack.client.post("/api/v1/reports", json={**report, "description": "ok", "address": char}),
        "address",
    )
    form = {"api_key": open311_key(stack.engine), "service_code": "E0102", "lat": str(lat)}
    form |= {"long": str(lon), "description": f"broken {char} cover"}
    for fmt in ("xml", "json"):
        open311_refused(stack.client.post(f"/open311/v2/requests.{fmt}", data=form), "description")
    # Tabs, line breaks and every script a resident writes in are fine.
    fine = stack.client.post(
        "/api/v1/reports", json={**report, "description": "井盖\t坏了\r\nçà ✓ 😀"}
    )
    assert fine.status_code == 201, fine.text


def test_stored_text_xml_cannot_carry_never_reaches_the_xml(stack: Stack, demo_grid: Grid) -> None:
    """Rows stored before intake refused such text still give a well-formed list."""
    case_id = report_and_route(
        stack.client, stack.engine, stack.settings, demo_grid, category="E0102", cell=47
    )
    with Session(stack.engine) as session:
        case = session.get(Case, case_id)
        assert case is not None
        case.description = "legacy \ufffe\uffff\x01 text"
        case.address = "\U0010ffff"
        session.add(case)
        session.commit()
    for path in (f"/open311/v2/requests/{case_id}.xml", "/open311/v2/requests.xml"):
        answer = stack.client.get(path)
        assert answer.status_code == 200
        _, requests = xml_data(answer.content)  # raises unless well-formed
        ours = [r for r in requests if r["service_request_id"] == str(case_id)]
        assert ours and ours[0]["description"] == "legacy \ufffd\ufffd\ufffd text"
    assert (
        "\ufffe"
        in stack.client.get(f"/open311/v2/requests/{case_id}.json").json()[0]["description"]
    )


def open311_key(engine: Engine) -> str:
    with Session(engine) as session:
        return create_key(session, f"hostile-{secrets.token_hex(4)}")
