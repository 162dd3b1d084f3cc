"""Helpers for the staff-side tests: accounts with tokens, reports routed in-process."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from geo.layer import Grid
from intake.app import create_app
from urbangrid.cases.staff import create_staff, issue_token
from urbangrid.cases.workdays import clock_rules
from urbangrid.core.grids import ActiveGrid
from urbangrid.core.settings import Settings
from urbangrid.core.tables import Case, Category
from workers.routing import route_case


@pytest.fixture(scope="module", name="settings")
def staff_settings(sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A module's ``settings`` fixture for staff steps on reports of its own making: none may
    join another as a duplicate, and many reports from one test client are not abuse."""
    return Settings(
        database_url=sqlite_url,
        var_dir=tmp_path_factory.mktemp("var"),
        duplicate_radius_m=0,
        rate_limit_per_minute=0,
    )


@pytest.fixture(scope="module", name="client")
def staff_client(settings: Settings) -> Iterator[TestClient]:
    """A module's ``client`` fixture: the API on those settings, started once for the module."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


# A category that needs an on-site verification and is dispatched by hand, so that every step
# of the loop is a person's (the starter taxonomy files and dispatches everything by rule).
VERIFY_CATEGORY = "E0599"


def ensure_verify_category(engine: Engine) -> str:
    with Session(engine) as session:
        if session.get(Category, VERIFY_CATEGORY) is None:
            session.add(
                Category(
                    code=VERIFY_CATEGORY,
                    name_zh="占道堆物（核实）",
                    name_en="Obstruction to verify",
                    family="event",
                    major="05",
                    minor="99",
                    department_kind="street_office",
                    time_limit="4wh",
                    needs_verification=True,
                    auto_dispatch=False,
                )
            )
            session.commit()
    return VERIFY_CATEGORY


def staff_token(engine: Engine, role: str, scope: str, name: str | None = None) -> str:
    """A new account with ``role`` and ``scope``, and its bearer token."""
    with Session(engine) as session:
        account = create_staff(
            session, name or f"{role}-{secrets.token_hex(4)}", role, scope, password=None
        )
        token = issue_token(session, account, label="test")
        session.commit()
    return token


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def cell_point(grid: Grid, index: int) -> tuple[float, float]:
    point = shapely.point_on_surface(grid[max(grid)].geoms[index])
    return point.x, point.y


def report_and_route(
    client: TestClient,
    engine: Engine,
    settings: Settings,
    grid: Grid,
    *,
    category: str,
    cell: int,
    description: str = "",
) -> int:
    """A citizen's report through the intake API, then routed as the worker would route it."""
    lon, lat = cell_point(grid, cell)
    answer = client.post(
        "/api/v1/reports",
        json={"category": category, "lat": lat, "lon": lon, "description": description},
    )
    assert answer.status_code == 201, answer.text
    case_id = int(answer.json()["id"])
    with Session(engine, expire_on_commit=False) as session:
        route_case(
            case_id, session=session, grid=ActiveGrid(), rules=clock_rules(session, settings)
        )
    return case_id


def case_row(engine: Engine, case_id: int) -> Case:
    with Session(engine, expire_on_commit=False) as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case


def act(client: TestClient, token: str, case_id: int, action: str, **body: Any) -> dict[str, Any]:
    answer = client.post(
        f"/api/v1/cases/{case_id}/actions/{action}", json=body, headers=auth(token)
    )
    assert answer.status_code == 200, (action, answer.status_code, answer.text)
    result: dict[str, Any] = answer.json()
    return result


def act_with_photos(
    client: TestClient,
    token: str,
    case_id: int,
    action: str,
    *,
    photos: int = 1,
    refs: tuple[str, ...] = (),
    **fields: str,
) -> dict[str, Any]:
    """An action sent as a phone sends it: multipart, the photos taken uploaded with it."""
    from tests.intake.helpers import jpeg

    files = [
        ("photos", (f"p{i}.jpg", jpeg(colour=(30 + 40 * i, 150, 60)), "image/jpeg"))
        for i in range(photos)
    ]
    files += [("photos", (None, ref)) for ref in refs]  # type: ignore[misc]
    answer = client.post(
        f"/api/v1/cases/{case_id}/actions/{action}",
        data=fields,
        files=files,
        headers=auth(token),
    )
    assert answer.status_code == 200, (action, answer.status_code, answer.text)
    result: dict[str, Any] = answer.json()
    return result
