"""Reports without a pin, placed through the city's address list (the gazetteer): on the
native API, on PostgreSQL's one-statement submit path, and on a database that has no list yet."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import Session

from geo.layer import Grid
from intake.apikeys import create_key
from tests.intake.conftest import MakeClient
from tests.intake.helpers import cell_points, load_addresses
from tests.intake.open311_helpers import validate
from urbangrid.core.db import make_engine
from urbangrid.domain.residents import distance_m

BASE = "/open311/v2"


def test_native_api_places_a_report_by_address(
    make_client: MakeClient, sqlite_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    lon, lat = cell_points(demo_grid, 1, seed=404)[0]
    load_addresses(sqlite_url, tmp_path, [("上海市黄浦区样板路88弄", lon, lat)])
    client = make_client()
    placed = client.post(
        "/api/v1/reports", json={"category": "E0102", "address": "上海 黄浦区样板路八十八弄"}
    )
    assert placed.status_code == 201, placed.text
    read = client.get(f"/api/v1/reports/{placed.json()['id']}").json()
    assert distance_m(read["lat"], read["lon"], lat, lon) < 1
    nowhere = client.post("/api/v1/reports", json={"category": "E0102", "address": "无此路1号"})
    assert nowhere.status_code == 422
    assert nowhere.json()["detail"][0]["loc"] == ["body", "address"]


def test_postgresql_places_by_address_on_its_fast_path(
    pg_url: str, pg_client: TestClient, demo_grid: Grid, tmp_path: Path
) -> None:
    """The gazetteer's table and the one-statement submit path on PostgreSQL."""
    lon, lat = cell_points(demo_grid, 1, seed=405)[0]
    load_addresses(pg_url, tmp_path, [("上海市黄浦区库路7号", lon, lat)])
    engine = make_engine(pg_url)
    with Session(engine) as session:
        key = create_key(session, f"pg-{datetime.now(UTC).timestamp()}")
    engine.dispose()
    pg_client.app.state.intake.refresh_reference()  # type: ignore[attr-defined]
    posted = pg_client.post(
        f"{BASE}/requests.json",
        data={"api_key": key, "service_code": "E0102", "address_string": "黄浦区库路７号"},
    )
    assert posted.status_code == 201, posted.text
    request_id = posted.json()[0]["service_request_id"]
    data = pg_client.get(f"{BASE}/requests/{request_id}.json?extensions=true").json()
    validate(data, "requests.json")
    assert distance_m(data[0]["lat"], data[0]["long"], lat, lon) < 1
    assert data[0]["extended_attributes"]["address_match"]["method"] == "exact"


def test_a_database_without_the_address_list_still_takes_reports_with_coordinates(
    demo_grid: Grid, tmp_path: Path
) -> None:
    """Code newer than its database (a rolling upgrade): the list is missing, not intake."""
    from sqlalchemy import text

    from intake.app import create_app
    from tests.conftest import seed_database
    from urbangrid.core.settings import Settings

    url = f"sqlite:///{tmp_path / 'old.db'}"
    seed_database(url, demo_grid)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE address_points"))
    engine.dispose()
    settings = Settings(database_url=url, var_dir=tmp_path / "var", rate_limit_per_minute=0)
    with TestClient(create_app(settings)) as client:
        lon, lat = cell_points(demo_grid, 1, seed=408)[0]
        pinned = client.post("/api/v1/reports", json={"category": "E0102", "lat": lat, "lon": lon})
        assert pinned.status_code == 201, pinned.text
        worded = client.post(
            "/api/v1/reports", json={"category": "E0102", "address": "人民大道1号"}
        )
        assert worded.status_code == 422 and "no address list" in worded.text
