"""Staff upload the photos that prove a step; residents see them as after-photos."""

from __future__ import annotations

from fastapi.testclient import TestClient

from geo.layer import Grid
from tests.intake.helpers import cell_points, jpeg
from tests.staffing import auth, staff_token
from urbangrid.core.db import make_engine


def test_department_after_photo_reaches_the_resident(
    client: TestClient, sqlite_url: str, demo_grid: Grid
) -> None:
    lon, lat = cell_points(demo_grid, 1, seed=801)[0]
    accepted = client.post(
        "/api/v1/reports", json={"category": "E0102", "lat": lat, "lon": lon}
    ).json()
    engine = make_engine(sqlite_url)
    city = staff_token(engine, "supervisor", "city")
    elsewhere = staff_token(engine, "supervisor", "grid:999999")
    engine.dispose()
    url = f"/api/v1/cases/{accepted['id']}/photos"
    files = [("photos", ("after.jpg", jpeg(colour=(20, 160, 60)), "image/jpeg"))]
    assert client.post(url, files=files).status_code == 401
    assert client.post(url, files=files, headers=auth(elsewhere)).status_code == 404
    bad = client.post(url, files=[("photos", ("x.jpg", b"no", "image/jpeg"))], headers=auth(city))
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "photos"
    answer = client.post(url, files=files, headers=auth(city))
    assert answer.status_code == 201, answer.text
    (photo,) = answer.json()["photos"]
    assert photo["ref"] == f"photo:{photo['id']}"
    view = client.get(f"/api/v1/track/{accepted['tracking_token']}").json()
    assert [(p["id"], p["kind"]) for p in view["photos"]] == [(photo["id"], "after")]
