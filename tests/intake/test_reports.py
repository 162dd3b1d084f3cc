"""Bad input gets a clear 4xx naming the field, and nothing is written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from geo.layer import Grid
from intake.app import create_app
from urbangrid.core.db import make_engine
from urbangrid.core.settings import Settings
from urbangrid.core.tables import Case, CaseEvent


@pytest.fixture
def client(sqlite_url: str, tmp_path: Path) -> Iterator[TestClient]:
    # A broker nobody listens on: submitting must still answer at once.
    settings = Settings(database_url=sqlite_url, var_dir=tmp_path / "var")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def counts(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    with Session(engine) as session:
        cases = session.execute(select(func.count()).select_from(Case)).scalar_one()
        events = session.execute(select(func.count()).select_from(CaseEvent)).scalar_one()
    engine.dispose()
    return cases, events


def centre(grid: Grid) -> tuple[float, float]:
    point = shapely.point_on_surface(grid[max(grid)].geoms[0])
    return point.x, point.y


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"lat": 999}, "lat"),
        ({"lon": -181}, "lon"),
        ({"lat": "north"}, "lat"),
        ({"category": "X9999"}, "category"),
        ({"category": "E0999"}, "category"),
        ({"crs": "epsg:3857"}, "crs"),
        ({"description": "x" * 4001}, "description"),
        ({"lat": 48.85, "lon": 2.35}, "lat"),  # Paris: outside the service area
    ],
)
def test_bad_report_is_refused_naming_the_field(
    client: TestClient, sqlite_url: str, demo_grid: Grid, patch: dict[str, object], field: str
) -> None:
    lon, lat = centre(demo_grid)
    before = counts(sqlite_url)
    body = {"category": "E0102", "lat": lat, "lon": lon, "crs": "wgs84", **patch}
    answer = client.post("/api/v1/reports", json=body)
    assert answer.status_code == 422, answer.text
    assert any(error["loc"][-1] == field for error in answer.json()["detail"]), answer.json()
    assert counts(sqlite_url) == before


def test_report_is_stored_before_any_broker_answers(
    client: TestClient, sqlite_url: str, demo_grid: Grid
) -> None:
    lon, lat = centre(demo_grid)
    before = counts(sqlite_url)
    answer = client.post("/api/v1/reports", json={"category": "E0505", "lat": lat, "lon": lon})
    assert answer.status_code == 201
    body = answer.json()
    assert body["state"] == "REPORTED" and len(body["tracking_token"]) >= 32
    assert counts(sqlite_url) == (before[0] + 1, before[1] + 1)
    shown = client.get(f"/api/v1/reports/{body['id']}").json()
    assert shown["state"] == "REPORTED" and shown["lat"] == pytest.approx(lat)


def test_gcj02_input_is_stored_in_wgs84(
    client: TestClient, sqlite_url: str, demo_grid: Grid
) -> None:
    import numpy as np

    from geo.crs import from_wgs84

    lon, lat = centre(demo_grid)
    gx, gy = from_wgs84(np.array([lon]), np.array([lat]), "gcj02")
    answer = client.post(
        "/api/v1/reports",
        json={"category": "E0102", "lat": float(gy[0]), "lon": float(gx[0]), "crs": "gcj02"},
    )
    assert answer.status_code == 201, answer.text
    shown = client.get(f"/api/v1/reports/{answer.json()['id']}").json()
    # About 500 m apart in Shanghai before conversion; within a metre after.
    assert abs(shown["lat"] - lat) < 1e-5 and abs(shown["lon"] - lon) < 1e-5


def test_unknown_report_is_404(client: TestClient) -> None:
    assert client.get("/api/v1/reports/987654321").status_code == 404
