"""What the public and the staff see of a photo with a face and a licence plate: every public
URL the blurred copy, the staff in scope the original."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import Engine
from sqlmodel import Session

from geo.layer import Grid
from tests.intake.conftest import MakeClient
from tests.intake.helpers import cell_points
from tests.intake.test_photo_reports import process_all
from tests.staffing import auth, staff_token
from urbangrid import photoset
from urbangrid.blurring import cover, stored_detections
from urbangrid.db import make_engine
from urbangrid.grids import ActiveGrid
from urbangrid.settings import Settings
from urbangrid.tables import Photo
from urbangrid.workdays import clock_rules
from workers.routing import route_case


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


def _spread(data: bytes, box: tuple[int, int, int, int]) -> float:
    with Image.open(io.BytesIO(data)) as image:
        return float(np.asarray(image.convert("L").crop(box), dtype=float).std())


def test_the_public_sees_the_blurred_copy_and_staff_in_scope_the_original(
    make_client: MakeClient, engine: Engine, sqlite_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    client = make_client()
    sample = photoset.example(9)
    raw = io.BytesIO()
    Image.fromarray(sample.rgb).save(raw, "JPEG", quality=92)
    lon, lat = cell_points(demo_grid, 1, seed=1609)[0]
    answer = client.post(
        "/api/v1/reports",
        data={"category": "E0102", "lat": str(lat), "lon": str(lon), "description": "违停占道"},
        files=[("photos", ("street.jpg", raw.getvalue(), "image/jpeg"))],
    )
    assert answer.status_code == 201, answer.text
    accepted = answer.json()
    case_id, (photo_id,) = accepted["id"], accepted["photos"]
    with Session(engine, expire_on_commit=False) as session:
        route_case(
            case_id,
            session=session,
            grid=ActiveGrid(),
            rules=clock_rules(session, Settings(database_url=sqlite_url)),
        )
    assert process_all(sqlite_url, tmp_path / "var", case_id) == ["ready"]
    with Session(engine) as session:
        photo = session.get(Photo, photo_id)
        assert photo is not None and photo.digest and photo.public_digest
        stored_digest = photo.digest
        (face_cover,) = [
            cover(d, width=2048, height=1536)
            for d in stored_detections(photo.detections)
            if d.kind == "face"
        ]

    plate, face = sample.plates[0], sample.faces[0]
    tracked = client.get(f"/api/v1/track/{accepted['tracking_token']}").json()["photos"]
    assert len(tracked) == 1
    public = client.get(tracked[0]["url"])
    assert public.status_code == 200
    thumb = client.get(tracked[0]["thumb_url"])
    assert thumb.status_code == 200
    open311 = client.get(f"/open311/v2/requests/{case_id}.json").json()[0]
    assert open311["media_url"].endswith(tracked[0]["url"])
    # The stored copy's own URL serves nothing to the public, nor does its thumbnail.
    assert client.get(f"/api/v1/photos/{stored_digest}.jpg").status_code == 404
    assert client.get(f"/api/v1/photos/{stored_digest}/thumb.jpg").status_code == 404

    lead = staff_token(engine, "shift_lead", "city")
    original = client.get(f"/api/v1/cases/{case_id}/photos/{photo_id}.jpg", headers=auth(lead))
    assert original.status_code == 200
    assert _spread(public.content, plate) < 0.3 * _spread(original.content, plate)
    # The face is found as the evaluation set counts it (80 % of it covered) and its features
    # are smoothed away where it is covered.
    assert photoset.score(photoset.Sample("f", sample.rgb, faces=[face]), [face_cover]).faces_found
    inner = (
        max(face[0], face_cover[0]),
        max(face[1], face_cover[1]),
        min(face[2], face_cover[2]),
        min(face[3], face_cover[3]),
    )
    assert _spread(public.content, inner) < 0.6 * _spread(original.content, inner)
    # The public gets no original.
    assert client.get(f"/api/v1/cases/{case_id}/photos/{photo_id}.jpg").status_code == 401

    # A shift lead's redaction keeps the detector's blurs on the new public copy.
    redacted = client.post(
        f"/api/v1/cases/{case_id}/photos/{photo_id}/redact",
        json={"rectangles": [[10, 10, 110, 90]], "reason": "a shop sign with a phone number"},
        headers=auth(lead),
    )
    assert redacted.status_code == 200, redacted.text
    covered = client.get(redacted.json()["public_url"])
    assert covered.status_code == 200
    assert _spread(covered.content, plate) < 0.3 * _spread(original.content, plate)
    assert _spread(covered.content, (10, 10, 110, 90)) < 3
