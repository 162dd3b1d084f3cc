"""Reports near a street's boundary: flagged with the neighbour named, confirmed or moved."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from geo.boundary import distance_m
from geo.crs import METRES_PER_DEGREE
from geo.layer import Grid
from tests.intake.conftest import MakeClient
from tests.staffing import act, auth, case_row, staff_token
from urbangrid.db import make_engine
from urbangrid.grids import ActiveGrid
from urbangrid.settings import Settings
from urbangrid.workdays import clock_rules
from workers.routing import route_case

BIKES = "E0506"  # no rule: the street office of the case's street answers for it


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()


def neighbours(grid: Grid) -> tuple[int, int, shapely.Geometry]:
    """Two streets sharing a boundary of some length, and that boundary."""
    streets = grid[2].geoms
    tree = shapely.STRtree(streets)
    for a, geom in enumerate(streets):
        for b in tree.query(geom):
            if int(b) == a:
                continue
            shared = shapely.intersection(geom.boundary, streets[int(b)].boundary)
            if shared.length > 0.005:  # some hundreds of metres
                return a, int(b), shared
    raise AssertionError("the demo city has no adjoining streets")


def point_near(grid: Grid, a: int, b: int, shared: shapely.Geometry, metres: float) -> tuple:
    """A point in street ``a`` about ``metres`` from street ``b``, off their shared boundary."""
    mid = shared.interpolate(0.5, normalized=True)
    best = None
    for k in range(32):
        angle = 2 * math.pi * k / 32
        dx = metres * math.cos(angle) / (METRES_PER_DEGREE * math.cos(math.radians(mid.y)))
        dy = metres * math.sin(angle) / METRES_PER_DEGREE
        lon, lat = mid.x + dx, mid.y + dy
        if not grid[2].geoms[a].contains(shapely.Point(lon, lat)):
            continue
        away = distance_m(grid[2].geoms[b], lon, lat)
        if best is None or away > best[0]:
            best = (away, lon, lat)
    assert best is not None
    return best


def point_deep_inside(grid: Grid, a: int, metres: float) -> tuple[float, float]:
    street = grid[2].geoms[a]
    for cell in grid[4].geoms:
        p = shapely.point_on_surface(cell)
        if street.contains(p) and distance_m(street.boundary, p.x, p.y) >= metres:
            return p.x, p.y
    raise AssertionError(f"no cell lies {metres} m inside street {grid[2].codes[a]}")


def report(client: TestClient, engine: Engine, lon: float, lat: float) -> int:
    answer = client.post("/api/v1/reports", json={"category": BIKES, "lat": lat, "lon": lon})
    assert answer.status_code == 201, answer.text
    case_id = int(answer.json()["id"])
    with Session(engine, expire_on_commit=False) as session:
        rules = clock_rules(session, Settings(database_url=str(engine.url)))
        route_case(case_id, session=session, grid=ActiveGrid(boundary_margin_m=30.0), rules=rules)
    return case_id


def test_reports_near_a_street_boundary_are_flagged_and_can_be_moved(
    client: TestClient, engine: Engine, demo_grid: Grid
) -> None:
    a, b, shared = neighbours(demo_grid)
    street, neighbour = demo_grid[2].codes[a], demo_grid[2].codes[b]
    away, lon, lat = point_near(demo_grid, a, b, shared, 10.0)
    assert 5.0 <= away <= 12.0
    near = report(client, engine, lon, lat)
    case = case_row(engine, near)
    assert case.l2_code == street and case.near_boundary == neighbour
    assert case.state == "DISPATCHED" and case.department_code == f"so-{street}"

    inside_lon, inside_lat = point_deep_inside(demo_grid, a, 200.0)
    far = report(client, engine, inside_lon, inside_lat)
    assert case_row(engine, far).l2_code == street and case_row(engine, far).near_boundary is None

    dispatcher = staff_token(engine, "dispatcher", "city")
    queue = client.get(
        "/api/v1/cases", params={"grid": street, "limit": 500}, headers=auth(dispatcher)
    ).json()
    flagged = {c["id"]: (c["near_boundary"], c["neighbour"]) for c in queue["items"]}
    assert flagged[near] == (True, neighbour) and flagged[far] == (False, None)
    detail = client.get(f"/api/v1/cases/{near}", headers=auth(dispatcher)).json()
    assert {"confirm_street", "move_to_neighbour"} <= set(detail["allowed_actions"])
    assert detail["neighbour_street"] == {"code": neighbour, "name": demo_grid[2].names[b]}
    refused = client.post(
        f"/api/v1/cases/{far}/actions/move_to_neighbour", headers=auth(dispatcher)
    )
    assert refused.status_code == 409

    moved = act(
        client, dispatcher, near, "move_to_neighbour", reason="the bikes are on the east kerb"
    )
    assert moved["l2_code"] == neighbour and moved["near_boundary"] is False
    assert moved["department"] == f"so-{neighbour}" and moved["state"] == "DISPATCHED"
    step, reroute = moved["timeline"][-2:]
    assert step["action"] == "move_to_neighbour" and step["role"] == "dispatcher"
    assert step["detail"]["street"] == street and step["detail"]["neighbour"] == neighbour
    assert step["detail"]["reason"] == "the bikes are on the east kerb"
    assert reroute["action"] == "reroute" and reroute["detail"]["because"] == "move_to_neighbour"
    assert reroute["detail"]["previous_department"] == f"so-{street}"
    assert "move_to_neighbour" not in moved["allowed_actions"]

    # Another report at the same spot, confirmed where it is.
    again = report(client, engine, lon, lat)
    confirmed = act(client, dispatcher, again, "confirm_street")
    assert confirmed["l2_code"] == street and confirmed["near_boundary"] is False
    assert confirmed["department"] == f"so-{street}"
    assert confirmed["timeline"][-1]["detail"]["neighbour"] == neighbour


def test_the_margin_is_a_setting(client: TestClient, engine: Engine, demo_grid: Grid) -> None:
    a, b, shared = neighbours(demo_grid)
    _, lon, lat = point_near(demo_grid, a, b, shared, 10.0)
    answer = client.post("/api/v1/reports", json={"category": BIKES, "lat": lat, "lon": lon})
    case_id = int(answer.json()["id"])
    with Session(engine, expire_on_commit=False) as session:
        rules = clock_rules(session, Settings(database_url=str(engine.url)))
        route_case(case_id, session=session, grid=ActiveGrid(boundary_margin_m=0.0), rules=rules)
    assert case_row(engine, case_id).near_boundary is None
