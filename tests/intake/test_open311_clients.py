"""Open311 as outside clients use it: FixMyStreet's Open311.pm request for request, reports
without a pin located through the gazetteer, client updates, and the edges of the endpoint
(errors for unknown paths, HEAD, CORS, a photo upload, keys in the query string)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from geo.layer import Grid
from intake.apikeys import create_key
from tests.intake.conftest import MakeClient
from tests.intake.helpers import cell_points, jpeg, load_addresses
from tests.intake.open311_helpers import as_text, validate, xml_data
from tests.intake.test_tracking import CLOSING, _free_point, advance, events, link
from urbangrid.core.db import make_engine
from urbangrid.domain.residents import distance_m

BASE = "/open311/v2"


@pytest.fixture
def api_key(sqlite_url: str) -> str:
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        key = create_key(session, f"fms-{datetime.now(UTC).timestamp()}")
    engine.dispose()
    return key


def w3cdtf(when: datetime) -> str:
    """As Perl's DateTime::Format::W3CDTF writes a UTC time."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def error_of(answer: Any) -> tuple[int, str]:
    """(code, description) of the standard's error document, XML or JSON."""
    if answer.headers["content-type"].startswith("text/xml"):
        root, content = xml_data(answer.content)
        assert root == "errors", answer.text
        return int(content[0]["code"]), str(content[0]["description"])
    body = answer.json()
    assert isinstance(body, list) and set(body[0]) == {"code", "description"}, body
    return int(body[0]["code"]), str(body[0]["description"])


def test_fixmystreet_end_to_end_in_xml(
    make_client: MakeClient, api_key: str, sqlite_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    """The requests FixMyStreet's perllib/Open311.pm sends, parsed as its XML::Simple reads."""
    (lon1, lat1), (lon2, lat2) = cell_points(demo_grid, 2, seed=401)
    load_addresses(sqlite_url, tmp_path, [("上海市黄浦区测试路12号", lon2, lat2)])
    client = make_client()  # an API started after the import (one running reloads in 5 s)
    started = datetime.now(UTC) - timedelta(minutes=1)

    services = xml_data(client.get(f"{BASE}/services.xml").content)
    assert services[0] == "services" and any(s["service_code"] == "E0102" for s in services[1])
    meta = xml_data(client.get(f"{BASE}/services/E0102.xml").content)
    assert meta[0] == "service_definition" and meta[1]["attributes"][0]["code"] == "crs"

    # send_service_request, with a pin (always_send_latlong) ...
    params = {
        "description": "井盖缺失\r\n\r\n人民大道\r\n\r\nhttps://fms.example.cn/report/1\n",
        "service_code": "C0101",
        "first_name": "Wei",
        "last_name": "Li",
        "email": "wei@example.cn",
        "lat": f"{lat1:.6f}",
        "long": f"{lon1:.6f}",
        "attribute[title]": "井盖缺失",
        "api_key": api_key,
    }
    pinned = client.post(f"{BASE}/requests.xml", data=params)
    assert pinned.status_code == 201, pinned.text
    pinned_id = xml_data(pinned.content)[1][0]["service_request_id"]
    # ... and without one: address_string is the resident's words (send_notpinpointed off).
    unpinned_params = {k: v for k, v in params.items() if k not in ("lat", "long")}
    unpinned_params["address_string"] = "黄浦区 测试路 １２ 号"
    unpinned = client.post(f"{BASE}/requests.xml", data=unpinned_params)
    assert unpinned.status_code == 201, unpinned.text
    unpinned_id = xml_data(unpinned.content)[1][0]["service_request_id"]

    # always_upload_photos: the report's photos as multipart "photo1", "photo2", no media_url.
    uploaded = client.post(
        f"{BASE}/requests.xml",
        data={**params, "description": "两张照片"},
        files=[
            ("photo1", ("9.0.full.jpeg", jpeg(), "image/jpeg")),
            ("photo2", ("9.1.full.jpeg", jpeg(colour=(10, 200, 10)), "image/jpeg")),
        ],
    )
    assert uploaded.status_code == 201, uploaded.text

    # get_service_requests by id (report_ids joined by commas) and by window.
    found = client.get(f"{BASE}/requests.xml", params={"service_request_id": unpinned_id})
    request = xml_data(found.content)[1][0]
    assert distance_m(float(request["lat"]), float(request["long"]), lat2, lon2) < 1
    assert request["status"] == "open" and "\r" not in found.text
    window = client.get(
        f"{BASE}/requests.xml",
        params={
            "start_date": w3cdtf(started),
            "end_date": w3cdtf(datetime.now(UTC) + timedelta(minutes=1)),
        },
    )
    ids = {r["service_request_id"] for r in xml_data(window.content)[1]}
    assert {pinned_id, unpinned_id} <= ids
    extended = client.get(f"{BASE}/requests/{unpinned_id}.json?extensions=true").json()
    validate(extended, "requests.json")
    match = extended[0]["extended_attributes"]["address_match"]
    assert match == {
        "address_id": "上海市黄浦区测试路12号-id",
        "address": "上海市黄浦区测试路12号",
        "score": 100.0,
        "method": "exact",
    }
    assert extended[0]["address_id"] == "上海市黄浦区测试路12号-id"
    assert extended[0]["description"] == params["description"].replace("\r\n", "\n")

    # post_service_request_update: the resident's comment, passed on; a retry is the same.
    advance(sqlite_url, int(pinned_id), ["file", "dispatch"])
    update = {
        "updated_datetime": "2026-12-06T10:15:00+08:00",
        "service_request_id": pinned_id,
        "status": "OPEN",
        "description": "还没有修好，晚上很危险",
        "last_name": "-",
        "first_name": "Wei",
        "email": "wei@example.cn",
        "update_id": "fms-comment-77",
        "media_url": "https://elsewhere.example/photo/77.jpeg",
        "api_key": api_key,
    }
    posted = client.post(f"{BASE}/servicerequestupdates.xml", data=update)
    assert posted.status_code == 201, posted.text
    root, content = xml_data(posted.content)
    assert root == "service_request_updates" and content[0]["update_id"].isdigit()
    again = client.post(f"{BASE}/servicerequestupdates.xml", data=update)
    assert again.status_code == 200
    assert xml_data(again.content)[1][0]["update_id"] == content[0]["update_id"]
    # With upload_files_for_updates, the comment's photo comes as multipart "photo1".
    with_photo = client.post(
        f"{BASE}/servicerequestupdates.xml",
        data={**update, "update_id": "fms-comment-78", "media_url": ""},
        files={"photo1": ("78.0.full.jpeg", jpeg(), "image/jpeg")},
    )
    assert with_photo.status_code == 201, with_photo.text
    comments = [e for e in events(sqlite_url, int(pinned_id)) if e.action == "comment"]
    assert [c.note for c in comments] == ["还没有修好，晚上很危险"] * 2
    assert '"media_url": "https://elsewhere.example/photo/77.jpeg"' in comments[0].detail

    # get_service_request_updates sends api_key in the query and both dates.
    updates = client.get(
        f"{BASE}/servicerequestupdates.xml",
        params={
            "api_key": api_key,
            "start_date": w3cdtf(started),
            "end_date": w3cdtf(datetime.now(UTC) + timedelta(minutes=1)),
        },
    )
    mine = [u for u in xml_data(updates.content)[1] if u["service_request_id"] == pinned_id]
    assert [u["status"] for u in mine] == ["open", "open"]

    # The refusals, each the standard's document, as _process_error reads them.
    no_key = client.post(f"{BASE}/requests.xml", data={**params, "api_key": ""})
    assert no_key.status_code == 403 and error_of(no_key)[0] == 403
    missing = client.get(f"{BASE}/requests/987654321.xml")
    assert missing.status_code == 404 and error_of(missing)[0] == 404
    made_up = client.post(
        f"{BASE}/requests.xml", data={**unpinned_params, "address_string": "火星路9999号"}
    )
    assert made_up.status_code == 400 and "address_string" in error_of(made_up)[1]
    unknown_id = client.post(
        f"{BASE}/requests.xml", data={**unpinned_params, "address_string": "", "address_id": "x"}
    )
    assert unknown_id.status_code == 400 and "address_id" in error_of(unknown_id)[1]
    unknown_update = client.post(
        f"{BASE}/servicerequestupdates.xml", data={**update, "service_request_id": "987654321"}
    )
    assert unknown_update.status_code == 404 and error_of(unknown_update)[0] == 404

    # Once the case is closed: an update saying it is open again asks to reopen it; any
    # other is refused, saying why.
    advance(sqlite_url, int(pinned_id), ["accept", "handle", "check_pass", "close"])
    thanks = client.post(
        f"{BASE}/servicerequestupdates.xml",
        data={**update, "update_id": "fms-79", "status": "CLOSED", "description": "谢谢"},
    )
    assert thanks.status_code == 400 and "closed" in error_of(thanks)[1]
    reopen = client.post(
        f"{BASE}/servicerequestupdates.xml",
        data={**update, "update_id": "fms-80", "description": "又坏了"},
    )
    assert reopen.status_code == 201, reopen.text
    last = events(sqlite_url, int(pinned_id))[-1]
    assert (last.action, last.note) == ("reopen_request", "又坏了")


def test_duplicates_read_as_their_case_and_closed_requests_keep_their_closing_time(
    make_client: MakeClient, api_key: str, sqlite_url: str, demo_grid: Grid
) -> None:
    client = make_client(duplicate_radius_m=250)
    lon, lat = _free_point(sqlite_url, demo_grid, "E0406", seed=402)
    fields = {"api_key": api_key, "service_code": "E0406", "lat": str(lat), "long": str(lon)}
    parent = client.post(f"{BASE}/requests.json", data=fields).json()[0]["service_request_id"]
    child = client.post(f"{BASE}/requests.json", data=fields).json()[0]["service_request_id"]
    assert link(sqlite_url, int(child)) == "VOID"

    def read(request_id: str) -> dict[str, Any]:
        data = client.get(f"{BASE}/requests/{request_id}.json").json()
        validate(data, "requests.json")
        xml = xml_data(client.get(f"{BASE}/requests/{request_id}.xml").content)[1]
        assert as_text(data) == xml
        return data[0]  # type: ignore[no-any-return]

    joined = read(child)
    assert joined["status"] == "open"  # not "closed", which FixMyStreet reads as fixed
    assert joined["extended_attributes"] == {
        "duplicate": True,
        "parent_service_request_id": parent,
    }

    def updates(request_id: str) -> list[dict[str, Any]]:
        data = client.get(f"{BASE}/servicerequestupdates.json").json()
        xml = xml_data(client.get(f"{BASE}/servicerequestupdates.xml").content)[1]
        assert as_text(data) == xml
        return [u for u in data if u["service_request_id"] == request_id]

    # Its updates say the same: no "closed" for being joined (FixMyStreet would mark it fixed).
    assert [u["status"] for u in updates(child)] == []
    advance(sqlite_url, int(parent), CLOSING)
    closed_at = read(parent)["updated_datetime"]
    assert read(child)["status"] == "closed" and read(child)["updated_datetime"] == closed_at
    # Each move of the case it joined reaches the duplicate's client, the closing last.
    followed = updates(child)
    moves = [(u["detailed_status"], u["updated_datetime"]) for u in updates(parent)]
    assert [(u["detailed_status"], u["updated_datetime"]) for u in followed] == moves[
        -len(followed) :
    ]
    assert followed and followed[-1]["status"] == "closed"
    assert followed[-1]["updated_datetime"] == closed_at
    assert len({u["update_id"] for u in followed + updates(parent)}) == len(followed) + len(moves)
    # A rating a day later changes the case, not the request's closing time.
    token = None
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        from urbangrid.core.tables import Case

        token = session.get(Case, int(parent)).tracking_token  # type: ignore[union-attr]
    engine.dispose()
    rated = client.post(f"/api/v1/track/{token}/rating", json={"score": 2, "comment": "慢"})
    assert rated.status_code == 200, rated.text
    assert read(parent)["updated_datetime"] == closed_at


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_unknown_paths_and_methods_answer_the_standards_errors(
    client: TestClient, fmt: str
) -> None:
    for answer, status in [
        (client.get(f"{BASE}/nowhere.{fmt}"), 404),
        (client.get(f"/open311/v3/services.{fmt}"), 404),
        (client.delete(f"{BASE}/requests.{fmt}"), 405),
        (client.put(f"{BASE}/services.{fmt}"), 405),
    ]:
        assert answer.status_code == status
        assert answer.headers["content-type"].startswith(
            "text/xml" if fmt == "xml" else "application/json"
        )
        assert error_of(answer)[0] == status
    # Ids no database integer holds are refused before int() is asked to read them.
    digits = client.get(f"{BASE}/requests.{fmt}", params={"service_request_id": "9" * 5000})
    assert digits.status_code == 400 and "service_request_id" in error_of(digits)[1]
    for odd in ("²", "①", "0"):
        assert client.get(f"{BASE}/requests/{odd}.{fmt}").status_code == 404
    # Elsewhere FastAPI's own answer stands.
    assert client.get("/api/v1/nowhere").json() == {"detail": "Not Found"}


def test_head_and_cors_on_get_routes(make_client: MakeClient) -> None:
    client = make_client(open311_cors_origins=["https://map.example.cn"])
    for path in ("services.xml", "services/E0102.json", "discovery.xml", "requests.json"):
        got = client.get(f"{BASE}/{path}")
        head = client.head(f"{BASE}/{path}")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
        assert head.headers["content-length"] == got.headers["content-length"]
    allowed = client.get(f"{BASE}/services.json", headers={"Origin": "https://map.example.cn"})
    assert allowed.headers["access-control-allow-origin"] == "https://map.example.cn"
    other = client.get(f"{BASE}/services.json", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    preflight = client.options(
        f"{BASE}/requests.json",
        headers={"Origin": "https://map.example.cn", "Access-Control-Request-Method": "GET"},
    )
    assert (
        preflight.status_code == 200 and "GET" in preflight.headers["access-control-allow-methods"]
    )
    post = client.options(
        f"{BASE}/requests.json",
        headers={"Origin": "https://map.example.cn", "Access-Control-Request-Method": "POST"},
    )
    assert post.status_code == 400  # writes are never open to other origins


def test_every_clients_request_shape(
    client: TestClient, api_key: str, sqlite_url: str, demo_grid: Grid
) -> None:
    points = cell_points(demo_grid, 4, seed=403)
    # codeforamerica's open311 client (Python 2, so its requests are reproduced): the key and
    # an empty jurisdiction in the query string, the fields urlencoded in the body.
    lon, lat = points[0]
    cfa = client.post(
        f"{BASE}/requests.xml?" + urlencode({"jurisdiction_id": "", "api_key": api_key}),
        content=urlencode({"service_code": "E0102", "lat": lat, "long": lon}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert cfa.status_code == 201, cfa.text
    # Its service_definition asks for service/{code}.xml: not a resource here, said so in XML.
    singular = client.get(f"{BASE}/service/E0102.xml", params={"jurisdiction_id": ""})
    assert singular.status_code == 404 and error_of(singular)[0] == 404
    # Long names, e-mails and phones are cut to what is kept, and the client is told.
    lon, lat = points[1]
    long_fields = {
        "api_key": api_key,
        "service_code": "E0102",
        "lat": str(lat),
        "long": str(lon),
        "first_name": "W" * 80,
        "email": "e" * 150 + "@example.cn",
        "phone": "1" * 60,
    }
    cut = client.post(f"{BASE}/requests.json", data=long_fields)
    assert cut.status_code == 201, cut.text
    notice = cut.json()[0]["service_notice"]
    assert "first_name cut to 50" in notice and "email cut to 100" in notice
    assert "phone cut to 40" in notice
    # three (Python 2, reproduced): Three(...).post("E0102", lat=..., long=..., name="Wei Li",
    # media=open(...)) sends requests' data= and files={"media": file}, api_key in the data.
    lon, lat = points[2]
    photo = client.post(
        f"{BASE}/requests.xml",
        data={
            "lat": str(lat),
            "long": str(lon),
            "first_name": "Wei",
            "last_name": "Li",
            "service_code": "E0102",
            "api_key": api_key,
        },
        files={"media": ("pothole.jpg", jpeg(), "image/jpeg")},
    )
    assert photo.status_code == 201, photo.text
    photo_id = int(xml_data(photo.content)[1][0]["service_request_id"])
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        from sqlmodel import select

        from urbangrid.core.tables import Photo

        stored = session.exec(select(Photo).where(Photo.case_id == photo_id)).all()
    engine.dispose()
    assert len(stored) == 1 and stored[0].raw_format == "jpeg"
    not_a_photo = client.post(
        f"{BASE}/requests.xml",
        data={"api_key": api_key, "service_code": "E0102", "lat": str(lat), "long": str(lon)},
        files={"media": ("x.jpg", b"not an image", "image/jpeg")},
    )
    assert not_a_photo.status_code == 400 and "media" in error_of(not_a_photo)[1]
    two = client.post(
        f"{BASE}/requests.xml",
        data={"api_key": api_key, "service_code": "E0102", "lat": str(lat), "long": str(lon)},
        files=[
            ("media", ("a.jpg", jpeg(), "image/jpeg")),
            ("media", ("b.jpg", jpeg(), "image/jpeg")),
        ],
    )
    assert two.status_code == 400 and "media" in error_of(two)[1]
    # A photo under a name of the client's own is refused, naming it, not filed without it;
    # a large one the same way, not as text too long.
    before = _cases(sqlite_url)
    for size in (1, 200):
        elsewhere = client.post(
            f"{BASE}/requests.json",
            data={"api_key": api_key, "service_code": "E0102", "lat": str(lat), "long": str(lon)},
            files={"image": ("pothole.jpg", jpeg() * size, "image/jpeg")},
        )
        assert elsewhere.status_code == 400, elsewhere.text
        code, description = error_of(elsewhere)
        assert code == 400 and description.startswith("image: a file,") and "media" in description
    # Nor when the part carries no filename, an empty one, or only RFC 5987's filename*: its
    # type or its disposition still says it is a file.
    form = {"api_key": api_key, "service_code": "E0102", "lat": str(lat), "long": str(lon)}
    for disposition, kind in (
        ('name="image"', "image/jpeg"),
        ('name="image"; filename=""', "image/jpeg"),
        ("name=\"image\"; filename*=UTF-8''IMG_1.jpg", "application/octet-stream"),
        ('name="image"', "application/octet-stream"),  # known by its first bytes
    ):
        hidden = _post_part(client, form, disposition, kind, jpeg())
        assert hidden.status_code == 400, (disposition, hidden.text)
        assert error_of(hidden)[1].startswith("image: a file,")
    assert _cases(sqlite_url) == before
    # A browser's file input left empty (an empty filename, no bytes) sends nothing: under
    # media or under a name of its own, the report goes without a photo.
    for disposition in ('name="media"; filename=""', 'name="image"; filename=""'):
        empty = _post_part(client, form, disposition, "application/octet-stream", b"")
        assert empty.status_code == 201, (disposition, empty.text)
    # A text field some client types as bytes is still text.
    typed = _post_part(
        client, form, 'name="description"', "application/octet-stream", "路灯不亮".encode()
    )
    assert typed.status_code == 201, typed.text
    got = client.get(f"{BASE}/requests/{typed.json()[0]['service_request_id']}.json").json()
    assert got[0]["description"] == "路灯不亮"


def _post_part(
    client: TestClient, fields: dict[str, str], disposition: str, kind: str, data: bytes
) -> Any:
    """POST a request of text fields and one part as given, its multipart body written out by
    hand: HTTP libraries always name a file part's file."""
    boundary = "urbangrid-test-boundary"
    chunks = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    chunks.append(
        f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n"
        f"Content-Type: {kind}\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    chunks.append(f"--{boundary}--\r\n".encode())
    return client.post(
        f"{BASE}/requests.json",
        content=b"".join(chunks),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )


def _cases(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM cases")).scalar_one()
    engine.dispose()
    return int(count)


def test_openapi_documents_what_open311_answers(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, operations in paths.items():
        if not path.startswith("/open311/"):
            continue
        for method, operation in operations.items():
            answers = operation["responses"]
            assert "422" not in answers, (method, path)
            assert {"200", "400", "404"} <= set(answers), (method, path)
            assert set(answers["200"]["content"]) == {"text/xml", "application/json"}
            assert set(answers["400"]["content"]) == {"text/xml", "application/json"}
    post = paths["/open311/v2/requests.{fmt}"]["post"]
    assert {"201", "403", "413", "429"} <= set(post["responses"])
    assert "multipart/form-data" in post["requestBody"]["content"]
    assert "post" in paths["/open311/v2/servicerequestupdates.{fmt}"]


def test_a_client_updates_photo_is_fetched_from_an_allowed_host(
    make_client: MakeClient, api_key: str, sqlite_url: str, demo_grid: Grid
) -> None:
    """media_url on an allowed host comes in as the comment's photo (a named fake of the
    client system's photo server on loopback); elsewhere it stays a link."""
    import http.server
    import threading

    photo = jpeg()

    class PhotoServer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = photo if self.path == "/photo/1.jpeg" else b"<html>not a photo</html>"
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), PhotoServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = make_client(open311_media_hosts=["127.0.0.1"])
        lon, lat = cell_points(demo_grid, 1, seed=406)[0]
        fields = {"api_key": api_key, "service_code": "E0102", "lat": str(lat), "long": str(lon)}
        request_id = client.post(f"{BASE}/requests.json", data=fields).json()[0][
            "service_request_id"
        ]
        base = f"http://127.0.0.1:{server.server_port}"
        for n, url in enumerate([f"{base}/photo/1.jpeg", f"{base}/photo/2.jpeg"]):
            answer = client.post(
                f"{BASE}/servicerequestupdates.json?api_key={api_key}",
                data={
                    "service_request_id": request_id,
                    "description": f"照片 {n}",
                    "update_id": f"u-{n}",
                    "media_url": url,
                },
            )
            assert answer.status_code == 201, answer.text
    finally:
        server.shutdown()
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        from sqlmodel import select

        from urbangrid.core.tables import Photo

        photos = session.exec(select(Photo).where(Photo.case_id == int(request_id))).all()
    engine.dispose()
    comments = [e for e in events(sqlite_url, int(request_id)) if e.action == "comment"]
    assert len(photos) == 1 and photos[0].event_id == comments[0].id
    assert photos[0].raw_sha256 is not None
    assert '"media_error"' in comments[1].detail  # not a photo: kept as a link, and why


def test_georeport_reads_both_formats(client: TestClient, api_key: str, demo_grid: Grid) -> None:
    """georeport 0.3.1's reads, request for request (no jurisdiction: no query string); it
    takes ``response.json()[0]`` for one request and xmltodict's ``service_requests/request``."""
    lon, lat = cell_points(demo_grid, 1, seed=407)[0]
    fields = {"api_key": api_key, "service_code": "E0102", "lat": str(lat), "long": str(lon)}
    request_id = client.post(f"{BASE}/requests.json", data=fields).json()[0]["service_request_id"]
    for fmt in ("json", "xml"):
        services = client.get(f"{BASE}/services.{fmt}", params={})
        definition = client.get(f"{BASE}/services/E0102.{fmt}", params={})
        listed = client.get(f"{BASE}/requests.{fmt}", params={"service_request_id": request_id})
        one = client.get(f"{BASE}/requests/{request_id}.{fmt}", params={})
        for answer in (services, definition, listed, one):
            assert answer.status_code == 200, answer.text
        if fmt == "json":
            validate(services.json(), "services.json")
            validate(definition.json(), "service-definition.json")
            validate(listed.json(), "requests.json")
            assert one.json()[0]["service_request_id"] == request_id
        else:
            root, requests = xml_data(one.content)
            assert root == "service_requests" and requests[0]["service_request_id"] == request_id
