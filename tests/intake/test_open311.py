"""Open311 GeoReport v2, XML and JSON alike, validated against the standard's JSON Schemas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from geo.layer import Grid
from intake.apikeys import create_key
from tests.intake.helpers import cell_points
from tests.intake.open311_helpers import as_text, validate, xml_data
from tests.intake.test_tracking import CLOSING, advance
from urbangrid.cases.workdays import clock_rules
from urbangrid.core.db import make_engine
from urbangrid.core.grids import ActiveGrid
from urbangrid.core.settings import Settings
from urbangrid.core.tables import Case
from workers.routing import route_case

BASE = "/open311/v2"


@pytest.fixture
def api_key(sqlite_url: str) -> str:
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        key = create_key(session, f"fixmystreet-{datetime.now(UTC).timestamp()}")
    engine.dispose()
    return key


def post(client: TestClient, fmt: str, fields: dict[str, Any], **headers: str) -> Any:
    return client.post(f"{BASE}/requests.{fmt}", data=fields, headers=headers)


def both(client: TestClient, path: str) -> tuple[Any, Any]:
    """The same resource as JSON and as XML (root, content)."""
    as_json = client.get(f"{BASE}/{path.format(fmt='json')}")
    as_xml = client.get(f"{BASE}/{path.format(fmt='xml')}")
    assert as_json.status_code == as_xml.status_code == 200, (as_json.text, as_xml.text)
    assert as_json.headers["content-type"].startswith("application/json")
    assert as_xml.headers["content-type"].startswith("text/xml")
    assert as_xml.text.startswith('<?xml version="1.0" encoding="utf-8"?>')
    return as_json.json(), xml_data(as_xml.content)


def test_discovery_and_services(client: TestClient) -> None:
    data, (root, xml) = both(client, "discovery.{fmt}")
    assert root == "discovery" and as_text(data) == xml
    assert data["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert data["endpoints"][0]["formats"] == ["text/xml", "application/json"]

    services, (root, xml) = both(client, "services.{fmt}")
    validate(services, "services.json")
    assert root == "services" and as_text(services) == xml
    codes = [s["service_code"] for s in services]
    assert "E0102" in codes and "C0101" in codes and codes == sorted(codes)
    rubbish = next(s for s in services if s["service_code"] == "E0102")
    assert rubbish["service_name"] == "暴露垃圾" and rubbish["group"] == "市容环境"
    english = client.get(f"{BASE}/services.json?locale=en").json()
    assert next(s for s in english if s["service_code"] == "E0102")["group"] == "City appearance"

    definition, (root, xml) = both(client, "services/E0102.{fmt}")
    validate(definition, "service-definition.json")
    assert root == "service_definition" and as_text(definition) == xml
    crs = definition["attributes"][0]
    assert crs["code"] == "crs" and [v["key"] for v in crs["values"]] == ["wgs84", "gcj02", "bd09"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_errors_are_the_standards(client: TestClient, fmt: str, demo_grid: Grid) -> None:
    def error(answer: Any) -> tuple[int, str]:
        if fmt == "json":
            body = answer.json()
            assert isinstance(body, list) and set(body[0]) == {"code", "description"}
            return int(body[0]["code"]), str(body[0]["description"])
        root, content = xml_data(answer.content)
        assert root == "errors"
        return int(content[0]["code"]), str(content[0]["description"])

    lon, lat = cell_points(demo_grid, 1, seed=301)[0]
    fields = {"service_code": "E0102", "lat": str(lat), "long": str(lon)}
    missing = post(client, fmt, fields)
    assert missing.status_code == 403 and error(missing)[0] == 403
    wrong = post(client, fmt, {**fields, "api_key": "ug_not-a-key"})
    assert wrong.status_code == 403 and "api_key" in error(wrong)[1]
    unknown = client.get(f"{BASE}/services/X9999.{fmt}")
    assert unknown.status_code == 404 and error(unknown)[0] == 404
    request = client.get(f"{BASE}/requests/987654321.{fmt}")
    assert request.status_code == 404 and error(request)[0] == 404
    # An id no database integer holds names no request, rather than overflowing.
    huge = client.get(f"{BASE}/requests/99999999999999999999.{fmt}")
    assert huge.status_code == 404 and error(huge)[0] == 404
    listed = client.get(f"{BASE}/requests.{fmt}?service_request_id=1,99999999999")
    assert listed.status_code == 400 and "service_request_id" in error(listed)[1]
    window = client.get(
        f"{BASE}/requests.{fmt}?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z"
    )
    assert window.status_code == 400 and "90 days" in error(window)[1]
    bad_date = client.get(f"{BASE}/requests.{fmt}?start_date=yesterday")
    assert bad_date.status_code == 400 and "start_date" in error(bad_date)[1]
    bad_page = client.get(f"{BASE}/requests.{fmt}?page=0")
    assert bad_page.status_code == 400 and "page" in error(bad_page)[1]


def test_a_client_submits_and_reads_back_in_both_formats(
    client: TestClient, api_key: str, sqlite_url: str, demo_grid: Grid
) -> None:
    lon, lat = cell_points(demo_grid, 1, seed=302)[0]
    fields = {
        "api_key": api_key,
        "service_code": "C0101",
        "lat": str(lat),
        "long": str(lon),
        "address_string": "人民大道 200 号",
        "email": "resident@example.cn",
        "first_name": "Wei",
        "last_name": "Li",
        "phone": "13800000000",
        "description": "井盖缺失 manhole cover missing",
        "media_url": "https://fixmystreet.example/photo/1.jpg",
        "account_id": "acct-7",
    }
    created = post(client, "xml", fields)
    assert created.status_code == 201, created.text
    root, content = xml_data(created.content)
    assert root == "service_requests" and content[0]["account_id"] == "acct-7"
    request_id = content[0]["service_request_id"]
    assert request_id.isdigit() and content[0]["service_notice"] == "6小时内处置"

    # Before routing: open, no agency, no expected time: left out, not empty elements.
    data, (root, xml) = both(client, f"requests/{request_id}.{{fmt}}")
    validate(data, "requests.json")
    assert as_text(data) == xml
    assert data[0]["status"] == "open"
    assert "agency_responsible" not in data[0] and "expected_datetime" not in data[0]
    raw = client.get(f"{BASE}/requests/{request_id}.xml").text
    assert "<expected_datetime" not in raw and "<agency_responsible" not in raw
    assert data[0]["address"] == "人民大道 200 号"
    assert data[0]["media_url"] == "https://fixmystreet.example/photo/1.jpg"

    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        rules = clock_rules(session, Settings(database_url=sqlite_url))
        route_case(int(request_id), session=session, grid=ActiveGrid(), rules=rules)
        deadline = session.get(Case, int(request_id)).deadline_at  # type: ignore[union-attr]
    engine.dispose()

    data, (root, xml) = both(client, f"requests/{request_id}.{{fmt}}?extensions=true")
    validate(data, "requests.json")
    assert as_text(data) == xml, (data, xml)
    request = data[0]
    assert request["agency_responsible"] == "管线权属单位"  # the Chinese name: no locale asked
    requested = datetime.fromisoformat(request["requested_datetime"])
    assert requested.utcoffset() == timedelta(hours=8)
    expected = datetime.fromisoformat(request["expected_datetime"])
    assert abs(expected - deadline) < timedelta(seconds=1)  # type: ignore[operator]
    assert expected.utcoffset() == timedelta(hours=8)
    # A manhole cover is made good within 6 natural hours of dispatch (routed at once).
    assert timedelta(hours=6) <= expected - requested < timedelta(hours=6, minutes=1)
    extended = request["extended_attributes"]
    assert extended["detailed_status"] == "DISPATCHED"
    assert len(extended["grid"]["cell"]) == 15 and extended["grid"]["cell"].startswith(
        extended["grid"]["district"]
    )
    assert extended["duplicate"] is False and "parent_service_request_id" not in extended
    assert [n["type"] for n in request["notes"]] == ["status", "status", "transfer"]
    assert "管线权属单位" in request["notes"][-1]["summary"]
    english = client.get(f"{BASE}/requests/{request_id}.json?extensions=true&locale=en").json()
    assert english[0]["agency_responsible"] == "Owning utility"
    assert "Owning utility" in english[0]["notes"][-1]["summary"]
    for page in (str(data), str(xml)):
        assert "resident@example.cn" not in page and "13800000000" not in page

    listed = client.get(f"{BASE}/requests.json?service_request_id={request_id},987654321").json()
    assert [r["service_request_id"] for r in listed] == [request_id]
    validate(listed, "requests.json")


def test_lists_filter_and_page(
    client: TestClient, api_key: str, sqlite_url: str, demo_grid: Grid
) -> None:
    ids = []
    for lon, lat in cell_points(demo_grid, 3, seed=303):
        answer = post(
            client,
            "json",
            {"api_key": api_key, "service_code": "E0505", "lat": str(lat), "long": str(lon)},
        )
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()[0]["service_request_id"])
    advance(sqlite_url, int(ids[0]), CLOSING)
    since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    base = f"{BASE}/requests.json?service_code=E0505&start_date={since}"
    every = [r["service_request_id"] for r in client.get(base).json()]
    assert set(ids) <= set(every)
    closed = [r["service_request_id"] for r in client.get(f"{base}&status=closed").json()]
    opened = [r["service_request_id"] for r in client.get(f"{base}&status=open").json()]
    assert ids[0] in closed and ids[0] not in opened and ids[1] in opened
    first = client.get(f"{base}&page_size=2&page=1").json()
    second = client.get(f"{base}&page_size=2&page=2").json()
    assert len(first) == 2 and {r["service_request_id"] for r in first}.isdisjoint(
        r["service_request_id"] for r in second
    )
    other = client.get(f"{BASE}/requests.json?service_code=C0302&start_date={since}").json()
    assert not set(ids) & {r["service_request_id"] for r in other}

    updates = client.get(f"{BASE}/servicerequestupdates.json?start_date={since}").json()
    mine = [u for u in updates if u["service_request_id"] == ids[0]]
    assert [u["detailed_status"] for u in mine] == [
        "FILED",
        "DISPATCHED",
        "IN_PROGRESS",
        "HANDLED",
        "CLOSED",
    ]
    assert mine[-1]["status"] == "closed"
    root, xml = xml_data(client.get(f"{BASE}/servicerequestupdates.xml?start_date={since}").content)
    assert root == "service_request_updates" and as_text(updates) == xml


def test_bad_posts_are_400_naming_the_field(
    client: TestClient, api_key: str, demo_grid: Grid
) -> None:
    lon, lat = cell_points(demo_grid, 1, seed=304)[0]
    good = {"api_key": api_key, "service_code": "E0102", "lat": str(lat), "long": str(lon)}
    cases = [
        ({"lat": "999"}, 400, "lat"),
        ({"lat": "", "long": ""}, 400, "lat"),
        ({"description": "x" * 4001}, 400, "description"),
        ({"attribute[crs]": "epsg:3857"}, 400, "attribute[crs]"),
        ({"media_url": "javascript:alert(1)"}, 400, "media_url"),
        ({"service_code": "E0999"}, 404, "E0999"),
    ]
    for patch, status, word in cases:
        answer = post(client, "json", {**good, **patch})
        assert answer.status_code == status, (patch, answer.text)
        assert word in answer.json()[0]["description"], (patch, answer.text)


def test_device_retry_returns_the_first_request(
    client: TestClient, api_key: str, demo_grid: Grid
) -> None:
    lon, lat = cell_points(demo_grid, 1, seed=305)[0]
    fields = {
        "api_key": api_key,
        "service_code": "E0104",
        "lat": str(lat),
        "long": str(lon),
        "device_id": "phone-abc",
        "description": "dirty road",
    }
    first = post(client, "json", fields)
    again = post(client, "json", fields)
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()[0]["service_request_id"] == again.json()[0]["service_request_id"]
    different = post(client, "json", {**fields, "description": "another thing"})
    assert different.status_code == 201
    assert different.json()[0]["service_request_id"] != first.json()[0]["service_request_id"]


def test_tokens_name_their_request(client: TestClient, demo_grid: Grid) -> None:
    lon, lat = cell_points(demo_grid, 1, seed=306)[0]
    accepted = client.post(
        "/api/v1/reports", json={"category": "E0102", "lat": lat, "lon": lon}
    ).json()
    data, (root, xml) = both(client, f"tokens/{accepted['tracking_token']}.{{fmt}}")
    assert data == [
        {"service_request_id": str(accepted["id"]), "token": accepted["tracking_token"]}
    ]
    assert root == "service_requests" and as_text(data) == xml
    assert client.get(f"{BASE}/tokens/nope.json").status_code == 404
