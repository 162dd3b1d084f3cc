"""Reports with photos: placed by the photo's GPS, processed in the media queue, served bare."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select
from sqlmodel import Session

from geo.layer import Grid
from intake.apikeys import create_key
from tests.intake.helpers import (
    cell_points,
    cut_short,
    grained,
    grey16_png,
    jpeg,
    png,
    png_bomb,
    webp,
)
from urbangrid.core.db import make_engine
from urbangrid.core.settings import Settings
from urbangrid.core.storage import DirectoryStorage, object_key
from urbangrid.core.tables import Case, CaseEvent, Photo
from workers.media import process_photo


def counts(url: str) -> tuple[int, int, int]:
    engine = make_engine(url)
    with Session(engine) as session:
        found = tuple(
            session.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (Case, CaseEvent, Photo)
        )
    engine.dispose()
    return found  # type: ignore[return-value]


def process_all(url: str, var_dir: Path, case_id: int) -> list[str]:
    """Run the media step for every pending photo of a case, as the media worker does (photos
    other tests left pending in the shared database are stored under their own var dirs)."""
    settings = Settings(database_url=url, var_dir=var_dir)
    storage = DirectoryStorage(var_dir / "media")
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        pending = session.exec(
            select(Photo.id).where(Photo.state == "pending", Photo.case_id == case_id)
        ).all()  # type: ignore[call-overload]
        states = [
            process_photo(int(p[0]), session=session, storage=storage, settings=settings)
            for p in pending
        ]
    engine.dispose()
    return states


def test_photo_gps_places_a_report_without_coordinates(
    client: TestClient, sqlite_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    lon, lat = cell_points(demo_grid, 1, seed=101)[0]
    raw = jpeg((1200, 900), gps=(lat, lon))
    answer = client.post(
        "/api/v1/reports",
        data={"category": "E0102", "description": "垃圾 rubbish"},
        files=[("photos", ("IMG_0001.JPG", raw, "image/jpeg"))],
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert len(body["photos"]) == 1
    shown = client.get(f"/api/v1/reports/{body['id']}").json()
    assert shown["lat"] == pytest.approx(lat, abs=1e-5)
    assert shown["lon"] == pytest.approx(lon, abs=1e-5)

    # Until the media worker has run, only the raw upload exists, and it is never served.
    tracked = client.get(f"/api/v1/track/{body['tracking_token']}").json()
    assert tracked["photos"][0]["ready"] is False and tracked["photos"][0]["url"] is None
    raw_key = object_key("incoming", __import__("hashlib").sha256(raw).hexdigest())
    assert (tmp_path / "var" / "media" / raw_key).is_file()

    assert process_all(sqlite_url, tmp_path / "var", body["id"]) == ["ready"]
    assert not (tmp_path / "var" / "media" / raw_key).exists()  # the EXIF-bearing upload is gone
    photo = client.get(f"/api/v1/track/{body['tracking_token']}").json()["photos"][0]
    assert photo["ready"] is True
    served = client.get(photo["url"])
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    stored = Image.open(io.BytesIO(served.content))
    assert len(stored.getexif()) == 0 and b"Exif" not in served.content
    assert stored.size == (1200, 900)
    assert client.get(photo["thumb_url"]).status_code == 200
    # Processing again changes nothing.
    assert process_all(sqlite_url, tmp_path / "var", body["id"]) == []


def test_given_coordinates_win_over_the_photo(client: TestClient, demo_grid: Grid) -> None:
    (lon, lat), (plon, plat) = cell_points(demo_grid, 2, seed=102)
    answer = client.post(
        "/api/v1/reports",
        data={"category": "E0102", "lat": str(lat), "lon": str(lon)},
        files=[("photos", ("a.jpg", jpeg(gps=(plat, plon)), "image/jpeg"))],
    )
    assert answer.status_code == 201, answer.text
    shown = client.get(f"/api/v1/reports/{answer.json()['id']}").json()
    assert shown["lat"] == pytest.approx(lat) and shown["lon"] == pytest.approx(lon)


def test_several_formats_in_one_report(client: TestClient, demo_grid: Grid) -> None:
    lon, lat = cell_points(demo_grid, 1, seed=103)[0]
    answer = client.post(
        "/api/v1/reports",
        data={"category": "C0304", "lat": str(lat), "lon": str(lon)},
        files=[
            ("photos", ("a.png", png(), "image/png")),
            ("photos", ("b.webp", webp(), "image/webp")),
            ("photos", ("c.jpg", jpeg(), "image/jpeg")),
        ],
    )
    assert answer.status_code == 201, answer.text
    assert len(answer.json()["photos"]) == 3


def _refused(
    client: TestClient, data: dict[str, str], files: list[tuple[str, tuple[str, bytes, str]]]
) -> tuple[int, list[dict[str, object]]]:
    answer = client.post("/api/v1/reports", data=data, files=files)
    return answer.status_code, answer.json()["detail"]


@pytest.mark.parametrize(
    ("case", "field", "status"),
    [
        ("text_named_jpg", "photos", 422),
        ("png_bomb", "photos", 422),
        ("lat_999", "lat", 422),
        ("no_location_no_gps", "lat", 422),
        ("ten_mb_description", "description", 413),
        ("no_photo", "photos", 422),
        ("seven_photos", "photos", 422),
        ("unknown_field", "colour", 422),
        ("outside_service_area", "lat", 422),
    ],
)
def test_bad_multipart_is_refused_naming_the_field(
    client: TestClient, sqlite_url: str, demo_grid: Grid, case: str, field: str, status: int
) -> None:
    lon, lat = cell_points(demo_grid, 1, seed=104)[0]
    data = {"category": "E0102", "lat": str(lat), "lon": str(lon)}
    files = [("photos", ("ok.jpg", jpeg(), "image/jpeg"))]
    if case == "text_named_jpg":
        files = [("photos", ("photo.jpg", b"not a photo at all\n" * 50, "image/jpeg"))]
    elif case == "png_bomb":
        files = [("photos", ("huge.png", png_bomb(), "image/png"))]
    elif case == "lat_999":
        data["lat"] = "999"
    elif case == "no_location_no_gps":
        del data["lat"], data["lon"]
    elif case == "ten_mb_description":
        data["description"] = "x" * (10 * 1024 * 1024)
    elif case == "no_photo":
        files = []
    elif case == "seven_photos":
        files = [("photos", (f"{i}.jpg", jpeg(), "image/jpeg")) for i in range(7)]
    elif case == "unknown_field":
        data["colour"] = "red"
    elif case == "outside_service_area":
        data.update(lat="48.85", lon="2.35")
    before = counts(sqlite_url)
    if not files:
        answer = client.post(
            "/api/v1/reports", content=_form(data), headers={"content-type": _FORM_TYPE}
        )
        code, detail = answer.status_code, answer.json()["detail"]
    else:
        code, detail = _refused(client, data, files)
    assert code == status, detail
    assert any(error["loc"][-1] == field for error in detail), detail  # type: ignore[index]
    assert counts(sqlite_url) == before


def test_a_photo_input_left_empty_sends_nothing(client: TestClient, demo_grid: Grid) -> None:
    """The residents' page has a file input per photo; one left empty arrives as a part with an
    empty filename and no bytes, and the report goes with the photos that were chosen."""
    lon, lat = cell_points(demo_grid, 1, seed=105)[0]
    answer = client.post(
        "/api/v1/reports",
        data={"category": "E0102", "lat": str(lat), "lon": str(lon)},
        files=[
            ("photos", ("ok.jpg", jpeg(), "image/jpeg")),
            ("photos", ("", b"", "application/octet-stream")),
        ],
    )
    assert answer.status_code == 201, answer.text
    assert len(answer.json()["photos"]) == 1


_BOUNDARY = "testboundary1234"
_FORM_TYPE = f"multipart/form-data; boundary={_BOUNDARY}"


def _form(fields: dict[str, str]) -> bytes:
    parts = [
        f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in fields.items()
    ]
    return ("".join(parts) + f"--{_BOUNDARY}--\r\n").encode()


def test_ten_megabyte_json_description_is_refused(client: TestClient, demo_grid: Grid) -> None:
    lon, lat = cell_points(demo_grid, 1, seed=105)[0]
    answer = client.post(
        "/api/v1/reports",
        json={"category": "E0102", "lat": lat, "lon": lon, "description": "x" * 10_000_000},
    )
    assert answer.status_code == 413
    assert answer.json()["detail"][0]["loc"] == ["body"]
    assert "larger than" in answer.json()["detail"][0]["msg"]


def test_neither_json_nor_multipart_is_415(client: TestClient) -> None:
    answer = client.post(
        "/api/v1/reports", content=b"category=E0102", headers={"content-type": "text/plain"}
    )
    assert answer.status_code == 415
    assert answer.json()["detail"][0]["loc"] == ["header", "content-type"]


def test_raw_uploads_are_never_served(client: TestClient) -> None:
    # Only digests of stored copies are served, and only through the photo table.
    assert client.get("/api/v1/photos/" + "0" * 64 + ".jpg").status_code == 404
    assert client.get("/api/v1/photos/../incoming.jpg").status_code == 404
    assert client.get("/api/v1/photos/xyz.jpg").status_code == 422


def raw_files(var_dir: Path) -> list[Path]:
    """The raw uploads kept for the media worker (each test has its own var dir)."""
    return [path for path in (var_dir / "media").rglob("*") if path.is_file()]


# A photo a phone lost its signal sending, as a file name, its type and its bytes.
CUT = {
    "jpeg": ("IMG_2041.jpg", "image/jpeg", lambda: cut_short(grained(fmt="JPEG"))),
    "png": ("Screenshot.png", "image/png", lambda: cut_short(grained(fmt="PNG"))),
}


@pytest.mark.parametrize("kind", CUT)
def test_a_photo_cut_short_is_refused_and_nothing_of_the_report_is_kept(
    client: TestClient, sqlite_url: str, demo_grid: Grid, tmp_path: Path, kind: str
) -> None:
    # The media worker cannot decode it: taken, it became a report whose photo vanished later
    # with no word to the resident. Refused now, while the resident can still send it again.
    lon, lat = cell_points(demo_grid, 1, seed=106)[0]
    name, mime, cut = CUT[kind]
    data = {"category": "E0102", "lat": str(lat), "lon": str(lon), "description": "井盖破损"}
    good = ("photos", ("IMG_2040.jpg", jpeg((700, 500)), "image/jpeg"))
    before = counts(sqlite_url)
    files = [good, ("photos", (name, cut(), mime))]
    answer = client.post("/api/v1/reports", data=data, files=files)
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", "photos"]
    assert error["msg"].startswith(f"photos[1] ({name}): incomplete or damaged {kind} image")
    # The whole report is refused: no case, no event, no photo row, not even the good photo's
    # raw upload.
    assert counts(sqlite_url) == before
    assert raw_files(tmp_path / "var") == []
    resent = client.post("/api/v1/reports", data=data, files=[good])
    assert resent.status_code == 201, resent.text


def test_a_photo_cut_short_is_refused_when_added_to_a_report(
    client: TestClient, sqlite_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    lon, lat = cell_points(demo_grid, 1, seed=107)[0]
    made = client.post("/api/v1/reports", json={"category": "E0102", "lat": lat, "lon": lon})
    assert made.status_code == 201, made.text
    before = counts(sqlite_url)
    answer = client.post(
        f"/api/v1/track/{made.json()['tracking_token']}/photos",
        data={"note": "from across the road"},
        files=[("photos", ("IMG_2042.jpg", cut_short(grained(fmt="JPEG")), "image/jpeg"))],
    )
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", "photos"]
    assert error["msg"].startswith("photos[0] (IMG_2042.jpg): incomplete or damaged jpeg image")
    assert counts(sqlite_url) == before and raw_files(tmp_path / "var") == []


@pytest.mark.parametrize("kind", CUT)
def test_open311_media_cut_short_is_refused_and_nothing_is_kept(
    client: TestClient, sqlite_url: str, demo_grid: Grid, tmp_path: Path, kind: str
) -> None:
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        key = create_key(session, f"fixmystreet-cut-{kind}-{datetime.now(UTC).timestamp()}")
    engine.dispose()
    lon, lat = cell_points(demo_grid, 1, seed=108)[0]
    name, mime, cut = CUT[kind]
    before = counts(sqlite_url)
    answer = client.post(
        "/open311/v2/requests.json",
        data={"api_key": key, "service_code": "E0102", "lat": str(lat), "long": str(lon)},
        files={"media": (name, cut(), mime)},
    )
    # GeoReport v2 answers a bad field 400 with its list of {code, description}.
    assert answer.status_code == 400, answer.text
    [error] = answer.json()
    assert error["code"] == 400
    assert f"media[0] ({name}): incomplete or damaged {kind} image" in error["description"]
    assert counts(sqlite_url) == before and raw_files(tmp_path / "var") == []


def test_a_sixteen_bit_grey_png_is_stored_looking_like_the_photo(
    client: TestClient, sqlite_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    # A scanner or a camera app's 16-bit greyscale PNG: it was stored all white.
    lon, lat = cell_points(demo_grid, 1, seed=109)[0]
    raw = grey16_png((1024, 256))
    answer = client.post(
        "/api/v1/reports",
        data={"category": "E0102", "lat": str(lat), "lon": str(lon)},
        files=[("photos", ("scan.png", raw, "image/png"))],
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert process_all(sqlite_url, tmp_path / "var", body["id"]) == ["ready"]
    photo = client.get(f"/api/v1/track/{body['tracking_token']}").json()["photos"][0]
    served = client.get(photo["url"])
    assert served.status_code == 200
    shown = np.asarray(Image.open(io.BytesIO(served.content)).convert("L"))
    assert shown.shape == (256, 1024)
    assert shown[128, 2] < 12  # black at the left edge
    assert 116 < shown[128, 512] < 140  # mid-grey in the middle
    assert shown[128, 1021] > 243  # white at the right edge
