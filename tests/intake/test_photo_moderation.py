"""Photo moderation by shift leads: hiding, showing and covering parts of a photo, across the
copies of one picture and the reports that joined a case; what the public and staff see after."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine
from sqlmodel import Session

from geo.layer import Grid
from tests.intake.conftest import MakeClient
from tests.intake.helpers import cell_points, jpeg
from tests.intake.test_photo_reports import process_all
from tests.intake.test_staff_loop import photo_report
from tests.staffing import auth, case_row, staff_token
from urbangrid.cases.lifecycle import ConcurrentChange
from urbangrid.cases.moderation import redact
from urbangrid.core.db import make_engine
from urbangrid.core.storage import DirectoryStorage, object_key
from urbangrid.core.tables import Case, Photo
from urbangrid.domain.workflow import Role

OPEN311 = "/open311/v2"


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def client(make_client: MakeClient, engine: Engine) -> TestClient:
    return make_client()


def test_staff_open_and_moderate_the_photo_of_a_report_that_joined_the_case(
    make_client: MakeClient, engine: Engine, sqlite_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    """The case page lists a joined report's photo under the case's own address: that address
    serves the original to the staff of the case, and the shift lead moderates it there."""
    client = make_client(duplicate_radius_m=50)  # type: ignore[no-redef]
    first = photo_report(client, engine, demo_grid, seed=1111)
    stranger = photo_report(client, engine, demo_grid, seed=1112)
    lon, lat = cell_points(demo_grid, 1, seed=1111)[0]
    answer = client.post(
        "/api/v1/reports",
        data={"category": "E0102", "lat": str(lat), "lon": str(lon)},
        files=[("photos", ("same.jpg", jpeg((700, 500), colour=(40, 160, 60)), "image/jpeg"))],
    )
    assert answer.status_code == 201, answer.text
    joined = answer.json()
    assert joined["duplicate_of"] == first["id"]
    (joined_photo,) = joined["photos"]
    for case_id in (first["id"], joined["id"], stranger["id"]):
        process_all(sqlite_url, tmp_path / "var", case_id)

    case = case_row(engine, first["id"])
    department = staff_token(engine, "department", f"department:{case.department_code}")
    listed = client.get(f"/api/v1/cases/{first['id']}", headers=auth(department)).json()["photos"]
    (entry,) = [p for p in listed if p["id"] == joined_photo]
    original = client.get(entry["url"], headers=auth(department))
    assert original.status_code == 200, original.text
    as_taken = Image.open(io.BytesIO(original.content)).convert("RGB")
    assert as_taken.getpixel((350, 250))[1] > 120  # the joined report's green, not the case's red

    lead = staff_token(engine, "shift_lead", "city")
    hidden = client.post(
        f"/api/v1/cases/{first['id']}/photos/{joined_photo}/hide",
        json={"reason": "a neighbour's window"},
        headers=auth(lead),
    )
    assert hidden.status_code == 200, hidden.text
    with Session(engine) as session:
        photo = session.get(Photo, joined_photo)
        assert photo is not None and photo.hidden
    # Another case's photo is not this case's, under its address or moderated through it.
    (other_photo,) = stranger["photos"]
    for answer in (
        client.get(f"/api/v1/cases/{first['id']}/photos/{other_photo}.jpg", headers=auth(lead)),
        client.post(
            f"/api/v1/cases/{first['id']}/photos/{other_photo}/hide",
            json={"reason": "wrong case"},
            headers=auth(lead),
        ),
    ):
        assert answer.status_code == 404, answer.text


def test_a_shift_lead_hides_and_redacts_photos(
    client: TestClient, engine: Engine, sqlite_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    accepted = photo_report(client, engine, demo_grid, seed=1108)
    case_id, (photo_id,) = accepted["id"], accepted["photos"]
    assert process_all(sqlite_url, tmp_path / "var", case_id) == ["ready"]
    lead = staff_token(engine, "shift_lead", "city")
    department = staff_token(
        engine, "department", f"department:{case_row(engine, case_id).department_code}"
    )
    token = accepted["tracking_token"]
    public_url = client.get(f"/api/v1/track/{token}").json()["photos"][0]["url"]
    assert client.get(public_url).status_code == 200

    # Only the shift lead moderates.
    refused = client.post(
        f"/api/v1/cases/{case_id}/photos/{photo_id}/hide",
        json={"reason": "face"},
        headers=auth(department),
    )
    assert refused.status_code == 403

    # Redact the left half's top corner: the public copy has it filled, the stored copy not.
    box = [10, 10, 110, 90]
    redacted = client.post(
        f"/api/v1/cases/{case_id}/photos/{photo_id}/redact",
        json={"rectangles": [box], "reason": "a passer-by's face"},
        headers=auth(lead),
    )
    assert redacted.status_code == 200, redacted.text
    covered_url = redacted.json()["public_url"]
    assert covered_url != public_url
    assert client.get(public_url).status_code == 404  # the uncovered copy is no longer public
    covered = Image.open(io.BytesIO(client.get(covered_url).content)).convert("RGB")
    assert covered.getpixel((60, 50)) == pytest.approx((0, 0, 0), abs=12)  # type: ignore[arg-type]
    assert covered.getpixel((200, 200))[0] > 150  # the red outside the box is still red
    tracked = client.get(f"/api/v1/track/{token}").json()["photos"]
    assert [p["url"] for p in tracked] == [covered_url]
    original = client.get(f"/api/v1/cases/{case_id}/photos/{photo_id}.jpg", headers=auth(lead))
    assert original.status_code == 200
    stored = Image.open(io.BytesIO(original.content)).convert("RGB")
    assert stored.getpixel((60, 50))[0] > 150
    assert client.get(f"/api/v1/cases/{case_id}/photos/{photo_id}.jpg").status_code == 401

    # The same rectangle again (a second click, a retry) changes nothing and records nothing.
    again = client.post(
        f"/api/v1/cases/{case_id}/photos/{photo_id}/redact",
        json={"rectangles": [box], "reason": "a passer-by's face"},
        headers=auth(lead),
    )
    assert again.status_code == 200, again.text
    assert again.json()["event_id"] is None and again.json()["public_url"] == covered_url
    # A second rectangle: the copy it replaces showed that part, and is deleted, thumbnail and
    # all; the stored copy, which staff still open, is kept.
    media = tmp_path / "var" / "media"
    first_copy = covered_url.rsplit("/", 1)[1]
    assert len(list(media.rglob(first_copy))) == 2  # the copy and its thumbnail
    second = client.post(
        f"/api/v1/cases/{case_id}/photos/{photo_id}/redact",
        json={"rectangles": [[400, 10, 500, 90]], "reason": "a number on a door"},
        headers=auth(lead),
    )
    assert second.status_code == 200, second.text
    assert second.json()["redactions"] == [box, [400, 10, 500, 90]]
    covered_url = second.json()["public_url"]
    assert not list(media.rglob(first_copy))
    assert len(list(media.rglob(covered_url.rsplit("/", 1)[1]))) == 2
    assert (
        client.get(f"/api/v1/cases/{case_id}/photos/{photo_id}.jpg", headers=auth(lead)).status_code
        == 200
    )

    for _ in range(2):  # hidden once; the second click finds it hidden and records nothing
        hidden = client.post(
            f"/api/v1/cases/{case_id}/photos/{photo_id}/hide",
            json={"reason": "a child's face"},
            headers=auth(lead),
        )
        assert hidden.status_code == 200 and hidden.json()["public_url"] is None
    assert client.get(covered_url).status_code == 404
    assert client.get(f"/api/v1/track/{token}").json()["photos"] == []
    ext = client.get(f"{OPEN311}/requests/{case_id}.json?extensions=true").json()[0]
    assert ext.get("media_url") is None and ext["extended_attributes"]["photos"] == []
    detail = client.get(f"/api/v1/cases/{case_id}", headers=auth(lead)).json()
    (staff_photo,) = detail["photos"]
    assert staff_photo["hidden"] is True
    assert staff_photo["redactions"] == [box, [400, 10, 500, 90]]
    moderations = [e for e in detail["timeline"] if e["action"] == "moderate"]
    assert [(e["detail"].get("redacted"), e["detail"].get("hidden")) for e in moderations] == [
        ([box], None),
        ([[400, 10, 500, 90]], None),
        (None, True),
    ]
    assert "a child's face" not in client.get(f"/api/v1/track/{token}").text

    bad = client.post(
        f"/api/v1/cases/{case_id}/photos/{photo_id}/redact",
        json={"rectangles": [[50, 50, 10, 10]], "reason": "x"},
        headers=auth(lead),
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "rectangles"
    # A reason is words: blanks or a control character are refused, naming the field, and the
    # timeline is left as it was.
    for blank in ("   ", "\n\t", "a\u0007b"):
        refused = client.post(
            f"/api/v1/cases/{case_id}/photos/{photo_id}/show",
            json={"reason": blank},
            headers=auth(lead),
        )
        assert refused.status_code == 422, (blank, refused.text)
        assert refused.json()["detail"][0]["loc"][-1] == "reason"
    after = client.get(f"/api/v1/cases/{case_id}", headers=auth(lead)).json()
    assert [e for e in after["timeline"] if e["action"] == "moderate"] == moderations


def test_moderation_covers_the_same_picture_sent_with_another_report(
    client: TestClient, engine: Engine, sqlite_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    picture = jpeg((777, 333), colour=(10, 200, 200))
    first = photo_report(client, engine, demo_grid, seed=1109, photo=picture)
    second = photo_report(client, engine, demo_grid, seed=1110, photo=picture)
    for accepted in (first, second):
        assert process_all(sqlite_url, tmp_path / "var", accepted["id"]) == ["ready"]
    url = client.get(f"/api/v1/track/{second['tracking_token']}").json()["photos"][0]["url"]
    lead = staff_token(engine, "shift_lead", "city")
    hidden = client.post(
        f"/api/v1/cases/{first['id']}/photos/{first['photos'][0]}/hide",
        json={"reason": "a licence plate"},
        headers=auth(lead),
    )
    assert hidden.status_code == 200, hidden.text
    assert client.get(url).status_code == 404
    assert client.get(f"/api/v1/track/{second['tracking_token']}").json()["photos"] == []
    other = client.get(f"/api/v1/cases/{second['id']}", headers=auth(lead)).json()
    (event,) = [e for e in other["timeline"] if e["action"] == "moderate"]
    assert event["detail"]["of_case"] == first["id"] and event["detail"]["hidden"] is True


def test_a_takedown_stays_with_the_picture_across_scopes_and_new_uploads(
    client: TestClient, engine: Engine, sqlite_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    """Copies of one picture share their public address: a shift lead elsewhere cannot show a
    copy another took down, and the picture sent again arrives hidden or covered as before."""
    picture = jpeg((701, 433), colour=(200, 200, 10))
    first = photo_report(client, engine, demo_grid, seed=1113, photo=picture)
    second = photo_report(client, engine, demo_grid, seed=1114, photo=picture)
    for accepted in (first, second):
        assert process_all(sqlite_url, tmp_path / "var", accepted["id"]) == ["ready"]
    here, there = case_row(engine, first["id"]), case_row(engine, second["id"])
    assert here.l4_code != there.l4_code
    lead_here = staff_token(engine, "shift_lead", f"grid:{here.l4_code}")
    lead_there = staff_token(engine, "shift_lead", f"grid:{there.l4_code}")
    url = client.get(f"/api/v1/track/{second['tracking_token']}").json()["photos"][0]["url"]

    hidden = client.post(
        f"/api/v1/cases/{first['id']}/photos/{first['photos'][0]}/hide",
        json={"reason": "a bystander asked"},
        headers=auth(lead_here),
    )
    assert hidden.status_code == 200, hidden.text
    assert client.get(url).status_code == 404
    # The other district's shift lead shows its own copy: refused, naming the case.
    shown = client.post(
        f"/api/v1/cases/{second['id']}/photos/{second['photos'][0]}/show",
        json={"reason": "looks fine to me"},
        headers=auth(lead_there),
    )
    assert shown.status_code == 409, shown.text
    # Refused without naming the case: it lies outside this lead's scope.
    assert "hidden on another case, outside your scope" in shown.json()["detail"]
    assert str(first["id"]) not in shown.json()["detail"]
    assert client.get(url).status_code == 404
    with Session(engine) as session:
        rows = [session.get(Photo, p) for p in (first["photos"][0], second["photos"][0])]
        assert all(row is not None and row.hidden for row in rows)

    # The same file sent again, with a new report: it arrives hidden.
    third = photo_report(client, engine, demo_grid, seed=1115, photo=picture)
    assert process_all(sqlite_url, tmp_path / "var", third["id"]) == ["ready"]
    assert client.get(f"/api/v1/track/{third['tracking_token']}").json()["photos"] == []
    assert client.get(url).status_code == 404

    # A city-wide shift lead holds every copy's case and shows the picture again.
    city = staff_token(engine, "shift_lead", "city")
    shown = client.post(
        f"/api/v1/cases/{second['id']}/photos/{second['photos'][0]}/show",
        json={"reason": "the bystander is not recognisable"},
        headers=auth(city),
    )
    assert shown.status_code == 200, shown.text
    assert client.get(url).status_code == 200

    # A covered rectangle stays covered on the picture sent again.
    other_picture = jpeg((655, 377), colour=(30, 90, 220))
    fourth = photo_report(client, engine, demo_grid, seed=1116, photo=other_picture)
    assert process_all(sqlite_url, tmp_path / "var", fourth["id"]) == ["ready"]
    uncovered = client.get(f"/api/v1/track/{fourth['tracking_token']}").json()["photos"][0]
    covered = client.post(
        f"/api/v1/cases/{fourth['id']}/photos/{fourth['photos'][0]}/redact",
        json={"rectangles": [[10, 10, 200, 150]], "reason": "a phone number"},
        headers=auth(city),
    )
    assert covered.status_code == 200, covered.text
    fifth = photo_report(client, engine, demo_grid, seed=1117, photo=other_picture)
    assert process_all(sqlite_url, tmp_path / "var", fifth["id"]) == ["ready"]
    again = client.get(f"/api/v1/track/{fifth['tracking_token']}").json()["photos"]
    assert [p["url"] for p in again] == [covered.json()["public_url"]]
    assert client.get(uncovered["url"]).status_code == 404


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_two_covers_at_once_lose_neither_rectangle(
    database: str,
    request: pytest.FixtureRequest,
    make_client: MakeClient,
    demo_grid: Grid,
    tmp_path: Path,
) -> None:
    """Two shift leads cover parts of one photo at the same moment: the one that writes second
    read the photo before the first one's rectangle was there, and is refused (409 at the API),
    not allowed to write its list over the first one's. Its public copy is not left behind."""
    url = request.getfixturevalue("pg_url" if database == "postgres" else "sqlite_url")
    client = make_client(database_url=url)
    engine = make_engine(url)
    request.addfinalizer(engine.dispose)
    accepted = photo_report(client, engine, demo_grid, seed=1113)
    case_id, (photo_id,) = accepted["id"], accepted["photos"]
    assert process_all(url, tmp_path / "var", case_id) == ["ready"]
    storage = DirectoryStorage(tmp_path / "var" / "media")
    first_box, second_box = (10, 10, 60, 60), (100, 100, 150, 150)

    def cover(session: Session, box: tuple[int, int, int, int]) -> object:
        case, photo = session.get(Case, case_id), session.get(Photo, photo_id)
        assert case is not None and photo is not None
        return redact(
            session,
            storage,
            case,
            photo,
            [box],
            actor="lead",
            role=Role.SHIFT_LEAD,
            reason="a face",
            thumb_side=320,
        )

    with Session(engine) as late, Session(engine) as early:
        # Read before the other step writes (and held: the session keeps only what is held).
        read = (late.get(Case, case_id), late.get(Photo, photo_id))
        assert cover(early, first_box) is not None
        early.commit()
        with pytest.raises(ConcurrentChange):
            cover(late, second_box)
        late.rollback()
        del read

    with Session(engine) as session:
        photo = session.get(Photo, photo_id)
        assert photo is not None and photo.redactions == json.dumps([list(first_box)])
        named = {photo.digest, photo.public_digest}
    on_disk = {p.stem for p in (tmp_path / "var" / "media" / "photos").rglob("*.jpg")}
    assert on_disk <= named, on_disk - named

    # Sent again, on what is there now, the second rectangle joins the first.
    lead = staff_token(engine, "shift_lead", "city")
    again = client.post(
        f"/api/v1/cases/{case_id}/photos/{photo_id}/redact",
        json={"rectangles": [list(second_box)], "reason": "a face"},
        headers=auth(lead),
    )
    assert again.status_code == 200, again.text
    assert again.json()["redactions"] == [list(first_box), list(second_box)]


def test_a_cover_deletes_the_copies_it_replaces_on_every_twin(
    client: TestClient, engine: Engine, sqlite_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    """Twins can hold different public copies (a blur score changed between them, a reblur
    stopped half way): a cover gives both the new copy and deletes both old ones."""
    picture = jpeg((640, 480), colour=(200, 120, 40))
    first = photo_report(client, engine, demo_grid, seed=1114, photo=picture)
    second = photo_report(client, engine, demo_grid, seed=1115, photo=picture)
    for accepted in (first, second):
        assert process_all(sqlite_url, tmp_path / "var", accepted["id"]) == ["ready"]
    storage = DirectoryStorage(tmp_path / "var" / "media")
    older = "ab" * 32  # the second twin's own earlier public copy
    for prefix in ("photos", "thumbs"):
        storage.put(object_key(prefix, older, ".jpg"), picture, "image/jpeg")
    with Session(engine) as session:
        twin = session.get(Photo, second["photos"][0])
        assert twin is not None
        twin.public_digest = older
        session.add(twin)
        session.commit()

    lead = staff_token(engine, "shift_lead", "city")
    covered = client.post(
        f"/api/v1/cases/{first['id']}/photos/{first['photos'][0]}/redact",
        json={"rectangles": [[10, 10, 60, 60]], "reason": "a face at a window"},
        headers=auth(lead),
    )
    assert covered.status_code == 200, covered.text
    with Session(engine) as session:
        digests = {
            session.get(Photo, p).public_digest for p in (*first["photos"], *second["photos"])
        }  # type: ignore[union-attr]
    assert len(digests) == 1 and older not in digests
    for prefix in ("photos", "thumbs"):
        assert not storage.exists(object_key(prefix, older, ".jpg"))


def test_a_shift_lead_takes_a_cover_off_again(
    client: TestClient, engine: Engine, sqlite_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    """A cover drawn over the problem itself leaves the public a photo of nothing: the shift
    lead takes it off, on every copy of the picture, and the public copy is again as the
    detector made it. Taking off what is not covered changes and records nothing."""
    picture = jpeg((640, 480), colour=(200, 30, 30))
    first = photo_report(client, engine, demo_grid, seed=1116, photo=picture)
    second = photo_report(client, engine, demo_grid, seed=1117, photo=picture)
    for accepted in (first, second):
        assert process_all(sqlite_url, tmp_path / "var", accepted["id"]) == ["ready"]
    case_id, (photo_id,) = first["id"], first["photos"]
    steps = f"/api/v1/cases/{case_id}/photos/{photo_id}"
    token = first["tracking_token"]
    as_detected = client.get(f"/api/v1/track/{token}").json()["photos"][0]["url"]
    lead = staff_token(engine, "shift_lead", "city")
    department = staff_token(
        engine, "department", f"department:{case_row(engine, case_id).department_code}"
    )
    wrong, right = [300, 200, 400, 300], [10, 10, 110, 90]
    for box in (wrong, right):
        covered = client.post(
            f"{steps}/redact", json={"rectangles": [box], "reason": "x"}, headers=auth(lead)
        )
        assert covered.status_code == 200, covered.text
    both_url = covered.json()["public_url"]

    refused = client.post(
        f"{steps}/uncover", json={"rectangles": [wrong], "reason": "x"}, headers=auth(department)
    )
    assert refused.status_code == 403
    off = client.post(
        f"{steps}/uncover",
        json={"rectangles": [wrong], "reason": "covered the pothole, not the face"},
        headers=auth(lead),
    )
    assert off.status_code == 200, off.text
    assert off.json()["redactions"] == [right] and off.json()["event_id"] is not None
    assert client.get(both_url).status_code == 404  # the copy with both covers is gone
    shown = Image.open(io.BytesIO(client.get(off.json()["public_url"]).content)).convert("RGB")
    assert shown.getpixel((350, 250))[0] > 150  # the pothole's red shows again
    assert shown.getpixel((60, 50)) == pytest.approx((0, 0, 0), abs=12)  # type: ignore[arg-type]
    twin = client.get(f"/api/v1/cases/{second['id']}", headers=auth(lead)).json()["photos"][0]
    assert twin["redactions"] == [right]

    again = client.post(
        f"{steps}/uncover", json={"rectangles": [wrong], "reason": "x"}, headers=auth(lead)
    )
    assert again.status_code == 200 and again.json()["event_id"] is None
    assert again.json()["redactions"] == [right]
    bad = client.post(
        f"{steps}/uncover",
        json={"rectangles": [[50, 50, 10, 10]], "reason": "x"},
        headers=auth(lead),
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "rectangles"

    last = client.post(
        f"{steps}/uncover", json={"rectangles": [right], "reason": "x"}, headers=auth(lead)
    )
    assert last.status_code == 200 and last.json()["redactions"] == []
    assert last.json()["public_url"] == as_detected  # rendered again as before any cover
    assert client.get(as_detected).status_code == 200
    # The picture sent once more arrives with no cover: none is left on any copy.
    third = photo_report(client, engine, demo_grid, seed=1118, photo=picture)
    assert process_all(sqlite_url, tmp_path / "var", third["id"]) == ["ready"]
    sent_again = client.get(f"/api/v1/cases/{third['id']}", headers=auth(lead)).json()
    assert sent_again["photos"][0]["redactions"] == []
    timeline = client.get(f"/api/v1/cases/{case_id}", headers=auth(lead)).json()["timeline"]
    assert [e["detail"].get("uncovered") for e in timeline if e["action"] == "moderate"] == [
        None,
        None,
        [wrong],
        [right],
    ]
