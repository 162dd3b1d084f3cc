"""A resident's report travels the whole way: intake → grid → routing → deadline.

Run on the embedded default (SQLite + filesystem broker) and on the production services
(PostgreSQL + PostGIS and RabbitMQ), with real worker and scheduler processes.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from geo.assign import GridIndex
from geo.layer import Grid
from intake.app import create_app
from tests.processes import urbangrid_process, wait_until
from urbangrid.commands.soak.proxy import TcpProxy
from urbangrid.core.db import make_engine
from urbangrid.core.settings import Settings
from urbangrid.core.tables import Case, CaseEvent
from urbangrid.domain.calendar import OfficialCalendar
from urbangrid.domain.timelimits import add_limit, parse_limit

TZ = ZoneInfo("Asia/Shanghai")


def inside_points(grid: Grid, count: int, seed: int = 7) -> list[tuple[float, float]]:
    """Points strictly inside distinct demo cells (lon, lat)."""
    rng = np.random.default_rng(seed)
    cells = grid[max(grid)].geoms
    chosen = rng.choice(len(cells), size=count, replace=False)
    points = shapely.point_on_surface(cells[chosen])
    return [(p.x, p.y) for p in points]


def service_values(url: str, broker: str, var_dir: Path) -> dict[str, str]:
    return {
        "URBANGRID_DATABASE_URL": url,
        "URBANGRID_BROKER_URL": broker,
        "URBANGRID_VAR_DIR": str(var_dir),
        "URBANGRID_RELAY_INTERVAL_S": "1",
        "URBANGRID_RELAY_GRACE_S": "5",
        "URBANGRID_WORKER_CONCURRENCY": "2",
        # These tests follow each report through routing: none may join another as a
        # duplicate, and a hundred in a row from one client is not abuse here.
        "URBANGRID_DUPLICATE_RADIUS_M": "0",
        "URBANGRID_RATE_LIMIT_PER_MINUTE": "0",
    }


def settings_for(values: dict[str, str]) -> Settings:
    return Settings(**{k.removeprefix("URBANGRID_").lower(): v for k, v in values.items()})


def walk_one_report(
    client: TestClient, grid: Grid, database_url: str, point: tuple[float, float]
) -> None:
    lon, lat = point
    answer = client.post(
        "/api/v1/reports",
        json={
            "category": "E0102",
            "lat": lat,
            "lon": lon,
            "crs": "wgs84",
            "description": "垃圾堆在路边 rubbish by the road",
        },
    )
    assert answer.status_code == 201, answer.text
    report_id = answer.json()["id"]
    assert answer.json()["state"] == "REPORTED"

    def dispatched() -> bool:
        return bool(client.get(f"/api/v1/reports/{report_id}").json()["state"] == "DISPATCHED")

    assert wait_until(dispatched, 60), client.get(f"/api/v1/reports/{report_id}").json()
    body = client.get(f"/api/v1/reports/{report_id}").json()

    expected = GridIndex.build(grid).assign(np.array([lon]), np.array([lat]))
    codes = [body[k]["code"] for k in ("district", "street", "community", "cell")]
    assert codes == [str(expected.codes[level][0]) for level in (1, 2, 3, 4)]
    names = dict(zip(grid[1].codes, grid[1].names, strict=True))
    assert body["district"]["name"] == names[codes[0]]
    # Exposed rubbish is sanitation's; the district's own bureau is the more specific rule.
    assert body["department"]["code"] == f"sanitation-{codes[0]}"
    # The handling clock starts at dispatch and counts working hours on the official calendar.
    dispatched = datetime.fromisoformat(body["events"][-1]["at"])
    deadline = add_limit(dispatched, parse_limit("4wh"), calendar=OfficialCalendar(), tz=TZ)
    assert datetime.fromisoformat(body["deadline"]) == deadline
    assert [e["action"] for e in body["events"]] == ["submit", "file", "dispatch"]
    assert body["events"][-1]["to_state"] == "DISPATCHED"

    engine = make_engine(database_url)
    with Session(engine) as session:
        detail = json.loads(
            session.execute(
                select(CaseEvent.detail)
                .where(CaseEvent.case_id == report_id)
                .where(CaseEvent.action == "dispatch")
            ).scalar_one()
        )
    engine.dispose()
    assert detail["rule_id"] is not None


def test_embedded_default_routes_a_report(sqlite_url: str, demo_grid: Grid, tmp_path: Path) -> None:
    values = service_values(sqlite_url, "", tmp_path / "var")
    with (
        urbangrid_process(["worker"], values, tmp_path / "worker.log"),
        TestClient(create_app(settings_for(values))) as client,
    ):
        walk_one_report(client, demo_grid, sqlite_url, inside_points(demo_grid, 1)[0])


@pytest.mark.postgres
@pytest.mark.rabbitmq
def test_production_services_route_a_report(
    pg_url: str, amqp_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    values = service_values(pg_url, amqp_url, tmp_path / "var")
    with (
        urbangrid_process(["worker"], values, tmp_path / "worker.log"),
        TestClient(create_app(settings_for(values))) as client,
    ):
        walk_one_report(client, demo_grid, pg_url, inside_points(demo_grid, 1, seed=8)[0])


@pytest.mark.postgres
@pytest.mark.rabbitmq
def test_reports_survive_a_broker_outage(
    pg_url: str, amqp_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    """With RabbitMQ unreachable, 100 reports are accepted; once it is back, each routes once."""
    from urllib.parse import urlsplit

    real = urlsplit(amqp_url)
    proxy = TcpProxy((real.hostname or "127.0.0.1", real.port or 5672))
    proxied = real._replace(netloc=f"{real.username}:{real.password}@127.0.0.1:{proxy.port}")
    values = service_values(pg_url, proxied.geturl(), tmp_path / "var")
    engine = make_engine(pg_url)

    with TestClient(create_app(settings_for(values))) as client:
        ids = []
        for lon, lat in inside_points(demo_grid, 100, seed=9):
            answer = client.post(
                "/api/v1/reports", json={"category": "C0304", "lat": lat, "lon": lon}
            )
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["id"])
    with Session(engine) as session:
        states = session.execute(select(Case.state).where(Case.id.in_(ids))).scalars().all()  # type: ignore[union-attr]
    assert len(states) == 100 and set(states) == {"REPORTED"}

    proxy.start()
    try:
        with (
            urbangrid_process(["worker"], values, tmp_path / "worker.log"),
            urbangrid_process(["scheduler"], values, tmp_path / "scheduler.log"),
        ):

            def all_dispatched() -> bool:
                with Session(engine) as session:
                    return (
                        session.execute(
                            select(func.count())
                            .select_from(Case)
                            .where(Case.id.in_(ids))
                            .where(Case.state == "DISPATCHED")  # type: ignore[union-attr]
                        ).scalar_one()
                        == 100
                    )

            assert wait_until(all_dispatched, 120, interval=0.5), (
                tmp_path / "worker.log"
            ).read_text()[-3000:]
    finally:
        proxy.stop()
    with Session(engine) as session:
        dispatches = session.execute(
            select(CaseEvent.case_id, func.count())
            .where(CaseEvent.case_id.in_(ids))  # type: ignore[attr-defined]
            .where(CaseEvent.action == "dispatch")
            .group_by(CaseEvent.case_id)
        ).all()
    engine.dispose()
    assert len(dispatches) == 100
    assert {count for _, count in dispatches} == {1}
