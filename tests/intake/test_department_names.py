"""Departments' names in English where the reader chose English: the metrics API, a case for
staff, Open311 and the resident's tracking; the Chinese name where a department has no other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from geo.layer import Grid
from intake.app import create_app
from tests.services import postgres_database
from tests.staffing import auth, case_row, cell_point, report_and_route, staff_token
from urbangrid.cases.workdays import clock_rules
from urbangrid.core.db import make_engine
from urbangrid.core.grids import ActiveGrid
from urbangrid.core.migrate import alembic_config
from urbangrid.core.settings import Settings
from urbangrid.core.tables import Department
from workers.routing import route_case

# How departments were named before they had an English name, as a database seeded then holds.
OLD_NAMES = [
    ("enforcement", "城管执法 City management enforcement", "enforcement"),
    ("so-310101001", "梅桥街道办事处", "street_office"),
    ("sanitation-310101", "黄浦区绿化市容局", "sanitation"),
    ("dpw", "Department of Public Works", "dpw"),  # an imported agency: left as it is
    ("so-310999001", "外滩街道办事处", "street_office"),  # a street the demo does not name
]


@pytest.fixture(params=["sqlite", "postgres"])
def database_at_0014(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        command.upgrade(alembic_config(url), "0014_photo_blur")
        yield url
        return
    with postgres_database() as url:
        command.upgrade(alembic_config(url), "0014_photo_blur")
        yield url


def test_the_migration_gives_a_seeded_city_its_english_department_names(
    database_at_0014: str,
) -> None:
    engine = sa.create_engine(database_at_0014)
    with engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO department (code, name, kind) VALUES (:code, :name, :kind)"),
            [{"code": c, "name": n, "kind": k} for c, n, k in OLD_NAMES],
        )
    command.upgrade(alembic_config(database_at_0014), "heads")
    with engine.connect() as connection:
        rows = dict(
            (code, (name, name_en))
            for code, name, name_en in connection.execute(
                sa.text("SELECT code, name, name_en FROM department")
            )
        )
    engine.dispose()
    assert rows == {
        "enforcement": ("城管执法", "City management enforcement"),
        "so-310101001": ("梅桥街道办事处", "Meiqiao Subdistrict Office"),
        "sanitation-310101": (
            "黄浦区绿化市容局",
            "Huangpu District Landscaping and City Appearance Bureau",
        ),
        "dpw": ("Department of Public Works", None),
        "so-310999001": ("外滩街道办事处", None),
    }


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(pg_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=pg_url,
        var_dir=tmp_path / "var",
        rate_limit_per_minute=0,
        duplicate_radius_m=0,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_a_fresh_city_has_both_names(engine: Engine) -> None:
    with Session(engine) as session:
        enforcement = session.get(Department, "enforcement")
        assert enforcement is not None
        assert (enforcement.name, enforcement.name_en) == (
            "城管执法",
            "City management enforcement",
        )
        offices = session.execute(
            sa.select(Department).where(Department.kind == "street_office")  # type: ignore[arg-type]
        ).scalars()
        for office in offices:
            assert office.name.endswith("办事处") and office.name_en
            assert office.name_en.endswith(("Subdistrict Office", "Town Office")), office.name_en


def test_the_api_names_departments_in_the_readers_language(
    client: TestClient, engine: Engine, settings: Settings, demo_grid: Grid
) -> None:
    case_id = report_and_route(client, engine, settings, demo_grid, category="E0501", cell=7)
    case = case_row(engine, case_id)
    assert case.department_code == "enforcement"
    token = staff_token(engine, "shift_lead", "city")

    # The ranking lists every department: its names follow ?lang=.
    for lang, name in (("en", "City management enforcement"), ("zh", "城管执法")):
        answer = client.get("/api/v1/metrics/ranking", params={"lang": lang}, headers=auth(token))
        assert answer.status_code == 200, answer.text
        names = {row["key"]: row["name"] for row in answer.json()["rows"]}
        assert names["enforcement"] == name
        bureau = names[f"sanitation-{case.l1_code}"]
        assert bureau.endswith("Bureau") if lang == "en" else bureau.endswith("绿化市容局")

    # Staff read both names of the department a case is with.
    detail = client.get(f"/api/v1/cases/{case_id}", headers=auth(token)).json()
    assert detail["department_ref"] == {
        "code": "enforcement",
        "name": "城管执法",
        "name_en": "City management enforcement",
    }

    # The resident's tracking carries both; the page shows the one of its language.
    lon, lat = cell_point(demo_grid, 8)
    accepted = client.post(
        "/api/v1/reports", json={"category": "E0501", "lat": lat, "lon": lon}
    ).json()
    with Session(engine, expire_on_commit=False) as session:
        route_case(
            int(accepted["id"]),
            session=session,
            grid=ActiveGrid(),
            rules=clock_rules(session, settings),
        )
    view = client.get(f"/api/v1/track/{accepted['tracking_token']}").json()
    assert (view["department"], view["department_en"]) == (
        "城管执法",
        "City management enforcement",
    )

    # Open311 clients in the locale they ask for.
    for locale, name in (("en", "City management enforcement"), ("zh", "城管执法")):
        found = client.get(f"/open311/v2/requests/{case_id}.json", params={"locale": locale})
        assert found.status_code == 200, found.text
        assert found.json()[0]["agency_responsible"] == name


def test_a_department_without_an_english_name_reads_in_chinese(
    client: TestClient, engine: Engine, settings: Settings, demo_grid: Grid
) -> None:
    case_id = report_and_route(client, engine, settings, demo_grid, category="E0501", cell=9)
    with Session(engine) as session:
        enforcement = session.get(Department, "enforcement")
        assert enforcement is not None
        enforcement.name_en = None
        session.add(enforcement)
        session.commit()
    try:
        token = staff_token(engine, "shift_lead", "city")
        answer = client.get("/api/v1/metrics/ranking", params={"lang": "en"}, headers=auth(token))
        names = {row["key"]: row["name"] for row in answer.json()["rows"]}
        assert names["enforcement"] == "城管执法"
        detail = client.get(f"/api/v1/cases/{case_id}", headers=auth(token)).json()
        assert detail["department_ref"]["name_en"] == "城管执法"
    finally:
        with Session(engine) as session:
            enforcement = session.get(Department, "enforcement")
            assert enforcement is not None
            enforcement.name_en = "City management enforcement"
            session.add(enforcement)
            session.commit()
