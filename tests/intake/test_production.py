"""Intake on the production services: PostgreSQL + PostGIS, RabbitMQ, real worker processes."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, text
from sqlmodel import Session, select

from geo.layer import Grid
from intake.apikeys import create_key
from intake.app import create_app
from tests.intake.helpers import api_process, cell_points, jpeg
from tests.intake.open311_helpers import as_text, validate, xml_data
from tests.processes import urbangrid_process, wait_until
from tests.test_pipeline import service_values, settings_for
from urbangrid.core.db import make_engine
from urbangrid.core.tables import Case, CaseEvent, IdempotencyKey

pytestmark = [pytest.mark.postgres]


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _parallel(count: int, send: Any) -> list[tuple[int, dict[str, Any]]]:
    results: list[Any] = [None] * count
    start = threading.Barrier(count)

    def one(index: int) -> None:
        start.wait()
        results[index] = send()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def _count_cases(url: str, **where: Any) -> int:
    engine = make_engine(url)
    with Session(engine) as session:
        query = select(func.count()).select_from(Case)
        for name, value in where.items():
            query = query.where(getattr(Case, name) == value)
        found = int(session.execute(query).scalar_one())
    engine.dispose()
    return found


@pytest.mark.parametrize("database", ["postgres", "sqlite"])
def test_same_idempotency_key_ten_times_in_parallel_makes_one_case(
    database: str, request: pytest.FixtureRequest, demo_grid: Grid, tmp_path: Path
) -> None:
    url = request.getfixturevalue("pg_url" if database == "postgres" else "sqlite_url")
    values = {**service_values(url, "", tmp_path / "var"), "URBANGRID_DUPLICATE_RADIUS_M": "250"}
    lon, lat = cell_points(demo_grid, 1, seed=401 if database == "postgres" else 402)[0]
    description = f"idempotency {database} {datetime.now().isoformat()}"
    body = json.dumps(
        {"category": "E0103", "lat": lat, "lon": lon, "description": description}
    ).encode()
    key = f"key-{database}-{datetime.now().timestamp()}"
    with api_process(values, tmp_path / "api.log") as base:
        headers = {"content-type": "application/json", "Idempotency-Key": key}
        results = _parallel(10, lambda: _post(f"{base}/api/v1/reports", body, headers))
        assert all(status in (200, 201) for status, _ in results), results
        assert sorted(status for status, _ in results) == [200] * 9 + [201]
        assert len({answer["id"] for _, answer in results}) == 1
        assert len({answer["tracking_token"] for _, answer in results}) == 1
        # The same key with another report is the client's mistake, named as such.
        other = json.dumps({"category": "E0103", "lat": lat, "lon": lon}).encode()
        status, answer = _post(f"{base}/api/v1/reports", other, headers)
        assert status == 422 and answer["detail"][0]["loc"] == ["header", "Idempotency-Key"]

        # Photos take the general path; a retried upload still makes one case.
        form_key = key + "-photos"
        boundary = "b0undary"
        form = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="category"\r\n\r\nE0104\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; filename="p.jpg"'
                "\r\nContent-Type: image/jpeg\r\n\r\n"
            ).encode()
            + jpeg(gps=(lat, lon))
            + f"\r\n--{boundary}--\r\n".encode()
        )
        form_headers = {
            "content-type": f"multipart/form-data; boundary={boundary}",
            "Idempotency-Key": form_key,
        }
        results = _parallel(10, lambda: _post(f"{base}/api/v1/reports", form, form_headers))
        assert sorted(status for status, _ in results) == [200] * 9 + [201], results
        assert len({answer["id"] for _, answer in results}) == 1
    assert _count_cases(url, description=description) == 1
    engine = make_engine(url)
    with Session(engine) as session:
        keys = session.execute(
            select(func.count())
            .select_from(IdempotencyKey)
            .where(IdempotencyKey.key.in_([key, form_key]))  # type: ignore[attr-defined]
        ).scalar_one()
    engine.dispose()
    assert keys == 2


def test_a_burst_of_reports_is_stored_in_shared_transactions_each_exactly_once(
    pg_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    """Group commit: sixty reports at once through one writer. Every one is stored once with
    its submit event; some share a transaction (the same xmin); a report still sees an open
    case an earlier report of its batch stored; a key retried inside the burst makes one case."""
    values = {
        **service_values(pg_url, "", tmp_path / "var"),
        "URBANGRID_DUPLICATE_RADIUS_M": "50",
        "URBANGRID_API_WRITERS": "1",
    }
    tag = f"burst {datetime.now().isoformat()}"
    points = cell_points(demo_grid, 56, seed=501)
    bodies = [
        json.dumps(
            {"category": "E0103", "lat": lat, "lon": lon, "description": f"{tag} {i}"}
        ).encode()
        for i, (lon, lat) in enumerate(points[:50])
    ]
    # Four reports of one thing at one spot, and one report sent six times with its key.
    lon, lat = points[50]
    bodies += [
        json.dumps({"category": "E0104", "lat": lat, "lon": lon, "description": f"{tag} same"})
    ] * 4  # type: ignore[list-item]
    keyed = json.dumps(
        {"category": "E0105", "lat": points[51][1], "lon": points[51][0], "description": f"{tag} k"}
    )
    key = f"burst-{datetime.now().timestamp()}"
    sends: list[tuple[bytes, dict[str, str]]] = [
        (body if isinstance(body, bytes) else body.encode(), {"content-type": "application/json"})
        for body in bodies
    ] + [(keyed.encode(), {"content-type": "application/json", "Idempotency-Key": key})] * 6
    with api_process(values, tmp_path / "api.log") as base:
        queue = iter(range(len(sends)))
        lock = threading.Lock()

        def send() -> tuple[int, dict[str, Any]]:
            with lock:
                body, headers = sends[next(queue)]
            return _post(f"{base}/api/v1/reports", body, headers)

        results = _parallel(len(sends), send)
    assert all(status in (200, 201) for status, _ in results), results
    # The keyed report: one case, answered five times more as the replay of the first.
    keyed_ids = {a["id"] for status, a in results if status == 200}
    assert sorted(status for status, _ in results).count(200) == 5 and len(keyed_ids) == 1
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.id, c.xmin::text, c.duplicate_of, "
                "(SELECT count(*) FROM case_events e WHERE e.case_id = c.id) "
                "FROM cases c WHERE c.description LIKE :tag"
            ),
            {"tag": f"{tag}%"},
        ).all()
        same_spot = conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE duplicate_of IS NULL) FROM cases "
                "WHERE description = :d"
            ),
            {"d": f"{tag} same"},
        ).scalar_one()
        keyed_cases = conn.execute(
            text("SELECT count(*) FROM idempotency_key WHERE key = :k"), {"k": key}
        ).scalar_one()
    engine.dispose()
    assert len(rows) == 55 and all(events == 1 for *_, events in rows)
    assert keyed_ids == {case_id for case_id, *_ in rows if case_id in keyed_ids}
    assert len({xmin for _, xmin, _, _ in rows}) < len(rows), "no two reports shared a commit"
    # The first at the spot is the case; the three after it joined it, batch or no batch.
    assert same_spot == 1
    assert keyed_cases == 1


def _row(url: str, case_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    engine = make_engine(url)
    with Session(engine) as session:
        case = session.get(Case, case_id)
        assert case is not None
        found = case.model_dump(exclude={"id", "tracking_token", "created_at", "updated_at"})
        found["location"] = case.location.wkt if case.location is not None else None
        log = [
            e.model_dump(exclude={"id", "case_id", "at"})
            for e in session.exec(select(CaseEvent).where(CaseEvent.case_id == case_id))  # type: ignore[arg-type]
        ]
    engine.dispose()
    return found, log


def test_fast_path_writes_what_the_general_path_writes(
    pg_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    """The one-statement PostgreSQL path and the general path store identical rows."""
    (lon, lat), (lon2, lat2) = cell_points(demo_grid, 2, seed=403)
    settings = settings_for(service_values(pg_url, "", tmp_path / "var"))
    body = {
        "category": "E0106",
        "lat": lat,
        "lon": lon,
        "crs": "wgs84",
        "description": "绿地脏乱 dirty green",
        "contact": "13700000000",
        "address": "some park",
    }
    with TestClient(create_app(settings)) as client:
        intake = client.app.state.intake  # type: ignore[attr-defined]
        assert intake.fast is not None
        fast = client.post("/api/v1/reports", json=body).json()
        intake.fast, saved = None, intake.fast
        try:
            general = client.post("/api/v1/reports", json={**body, "lat": lat2, "lon": lon2}).json()
        finally:
            intake.fast = saved
    fast_row, fast_log = _row(pg_url, fast["id"])
    general_row, general_log = _row(pg_url, general["id"])
    for row in (fast_row, general_row):
        row.pop("lat"), row.pop("lon"), row.pop("input_lat"), row.pop("input_lon")
        row.pop("location")
    # Each path records its publish; the moment is the broker's confirmation of its own batch.
    published = [row.pop("published_at") for row in (fast_row, general_row)]
    assert [moment is None for moment in published] == [False, False], published
    assert fast_row == general_row
    assert fast_log == general_log and fast_log[0]["action"] == "submit"


@pytest.mark.rabbitmq
def test_open311_client_flow_on_production_services(
    pg_url: str, amqp_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    """services → POST requests with an api_key → requests/{id} once routed, XML and JSON."""
    values = service_values(pg_url, amqp_url, tmp_path / "var")
    engine = make_engine(pg_url)
    with Session(engine) as session:
        key = create_key(session, f"hotline-{datetime.now().timestamp()}")
    engine.dispose()
    lon, lat = cell_points(demo_grid, 1, seed=404)[0]
    with (
        urbangrid_process(["worker"], values, tmp_path / "worker.log"),
        TestClient(create_app(settings_for(values))) as client,
    ):
        services = client.get("/open311/v2/services.xml")
        root, listed = xml_data(services.content)
        assert root == "services" and "E0406" in [s["service_code"] for s in listed]
        created = client.post(
            "/open311/v2/requests.xml",
            data={
                "api_key": key,
                "service_code": "E0406",
                "lat": str(lat),
                "long": str(lon),
                "description": "道路积水 flooding",
            },
        )
        assert created.status_code == 201, created.text
        request_id = xml_data(created.content)[1][0]["service_request_id"]

        def routed() -> bool:
            body = client.get(f"/open311/v2/requests/{request_id}.json").json()
            return body[0].get("agency_responsible") is not None  # left out until routed

        assert wait_until(routed, 60), (tmp_path / "worker.log").read_text()[-3000:]
        as_json = client.get(f"/open311/v2/requests/{request_id}.json?extensions=true").json()
        root, as_xml = xml_data(
            client.get(f"/open311/v2/requests/{request_id}.xml?extensions=true").content
        )
    validate(as_json, "requests.json")
    assert root == "service_requests" and as_text(as_json) == as_xml
    request = as_json[0]
    # The department as the city names it (Open311 clients asking locale=en get its English name).
    assert request["agency_responsible"] == "排水"
    assert request["expected_datetime"] is not None
    assert datetime.fromisoformat(request["expected_datetime"]) > datetime.fromisoformat(
        request["requested_datetime"]
    )
    assert request["extended_attributes"]["detailed_status"] == "DISPATCHED"
    assert all(request["extended_attributes"]["grid"].values())


def test_control_characters_are_a_4xx_not_a_database_error(
    pg_client: TestClient, demo_grid: Grid
) -> None:
    """PostgreSQL cannot store NUL; intake refuses it by name before the database sees it."""
    lon, lat = cell_points(demo_grid, 1, seed=405)[0]
    answer = pg_client.post(
        "/api/v1/reports",
        json={"category": "E0102", "lat": lat, "lon": lon, "description": "a\u0000b"},
    )
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"][-1] == "description"
    token = pg_client.post(
        "/api/v1/reports", json={"category": "E0102", "lat": lat, "lon": lon}
    ).json()["tracking_token"]
    comment = pg_client.post(f"/api/v1/track/{token}/comments", json={"text": "x\u0000"})
    assert comment.status_code == 422 and comment.json()["detail"][0]["loc"][-1] == "text"
    assert pg_client.get("/open311/v2/tokens/ab%00cd.json").status_code == 400
    posted = pg_client.post(
        "/open311/v2/requests.json",
        data={"api_key": "k", "service_code": "E0102", "description": "a\x00b"},
    )
    assert posted.status_code == 400 and "description" in posted.json()[0]["description"]


@pytest.mark.rabbitmq
def test_a_duplicate_is_voided_by_the_worker_not_routed(
    pg_url: str, amqp_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    """On the fast path: the nearby report is told its case at once; the worker voids it."""
    from tests.intake.test_tracking import _free_point

    values = {
        **service_values(pg_url, amqp_url, tmp_path / "var"),
        "URBANGRID_DUPLICATE_RADIUS_M": "250",
    }
    lon, lat = _free_point(pg_url, demo_grid, "E0401", seed=406)
    with (
        urbangrid_process(["worker"], values, tmp_path / "worker.log"),
        TestClient(create_app(settings_for(values))) as client,
    ):
        assert client.app.state.intake.fast is not None  # type: ignore[attr-defined]
        first = client.post("/api/v1/reports", json={"category": "E0401", "lat": lat, "lon": lon})
        parent = first.json()["id"]
        # 0.0022° of latitude: inside the search box but 245 m away, still within the radius;
        # the same offset on both axes is 330 m away, in the box's corner, beyond it.
        near = client.post(
            "/api/v1/reports", json={"category": "E0401", "lat": lat + 0.0022, "lon": lon}
        ).json()
        corner = client.post(
            "/api/v1/reports",
            json={"category": "E0401", "lat": lat + 0.0022, "lon": lon + 0.0025},
        ).json()
        assert near["duplicate_of"] == parent and corner["duplicate_of"] is None

        def settled() -> bool:
            states = [
                client.get(f"/api/v1/reports/{i}").json()["state"]
                for i in (parent, near["id"], corner["id"])
            ]
            return states == ["DISPATCHED", "VOID", "DISPATCHED"]

        assert wait_until(settled, 60), (tmp_path / "worker.log").read_text()[-3000:]
        events = client.get(f"/api/v1/reports/{near['id']}").json()["events"]
        assert [e["action"] for e in events] == ["submit", "void"]
        parent_events = client.get(f"/api/v1/reports/{parent}").json()["events"]
        assert "duplicate" in [e["action"] for e in parent_events]
