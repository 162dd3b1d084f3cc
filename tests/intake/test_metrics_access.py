"""Who reads which figures over ``/api/v1/metrics``: the public what the city publishes, staff
their scope, and each person's figures only those who lead people."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from intake.app import create_app
from tests.staffing import auth, staff_token
from urbangrid.db import make_engine
from urbangrid.settings import Settings

DEPARTMENT = "enforcement"


def app(season_url: str, tmp_path: Path, *, published: bool) -> TestClient:
    settings = Settings(
        database_url=season_url, var_dir=tmp_path / "var", public_dashboard=published
    )
    return TestClient(create_app(settings))


@pytest.fixture
def tokens(season_url: str) -> Iterator[dict[str, str]]:
    engine = make_engine(season_url)
    yield {
        "clerk": staff_token(engine, "department", f"department:{DEPARTMENT}"),
        "head": staff_token(engine, "head", f"department:{DEPARTMENT}"),
        "supervisor": staff_token(engine, "supervisor", "city"),
        "lead": staff_token(engine, "shift_lead", "city"),
    }
    engine.dispose()


PRIVATE = [
    "/api/v1/metrics/departments",
    "/api/v1/metrics/districts",
    "/api/v1/metrics/roles",
    "/api/v1/metrics/roles?by=actor",
    "/api/v1/metrics/trend",
    "/api/v1/metrics/open/departments",
    "/api/v1/metrics/total?department=enforcement",
]


@pytest.mark.parametrize("published", [False, True])
def test_the_public_reads_only_what_the_city_publishes(
    season_url: str, tmp_path: Path, published: bool
) -> None:
    with app(season_url, tmp_path, published=published) as client:
        for path in PRIVATE:
            answer = client.get(path)
            assert answer.status_code == 401, (path, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer"
        for path in ("/api/v1/metrics/ranking", "/api/v1/metrics/total"):
            answer = client.get(path)
            assert answer.status_code == (200 if published else 401), (path, answer.text)
        if published:
            rows = client.get("/api/v1/metrics/ranking").json()["rows"]
            assert rows and all("actor" not in row for row in rows)
        # A token that is sent must be good: a stale one is told so, not read as the public.
        stale = client.get("/api/v1/metrics/ranking", headers=auth("ugs_nothing"))
        assert stale.status_code == 401


def test_staff_read_their_scope_and_people_only_if_they_lead(
    season_url: str, tmp_path: Path, tokens: dict[str, str]
) -> None:
    with app(season_url, tmp_path, published=False) as client:
        mine = client.get("/api/v1/metrics/departments", headers=auth(tokens["clerk"]))
        assert mine.status_code == 200
        assert [row["key"] for row in mine.json()["rows"]] == [DEPARTMENT]
        assert mine.json()["filters"]["department"] == DEPARTMENT
        other = client.get(
            "/api/v1/metrics/departments?department=sanitation-310101",
            headers=auth(tokens["clerk"]),
        )
        assert other.status_code == 403 and other.json()["detail"][0]["loc"] == [
            "query",
            "department",
        ]
        for who, allowed in (("clerk", False), ("supervisor", False), ("head", True)):
            answer = client.get("/api/v1/metrics/roles?by=actor", headers=auth(tokens[who]))
            assert answer.status_code == (200 if allowed else 403), (who, answer.text)
        by_lead = client.get("/api/v1/metrics/roles?by=actor", headers=auth(tokens["lead"]))
        assert by_lead.status_code == 200 and by_lead.json()["rows"]
        assert client.get("/api/v1/metrics/roles", headers=auth(tokens["clerk"])).status_code == 200
        ranking = client.get("/api/v1/metrics/ranking", headers=auth(tokens["clerk"]))
        assert ranking.status_code == 200 and len(ranking.json()["rows"]) > 1  # city-wide


def test_signing_out_revokes_the_session_token(season_url: str, tmp_path: Path) -> None:
    from sqlmodel import Session

    from urbangrid.staff import create_staff

    engine = make_engine(season_url)
    with Session(engine) as session:
        create_staff(session, "signs-out", "shift_lead", "city", password="a long passphrase")
        session.commit()
    engine.dispose()
    with app(season_url, tmp_path, published=False) as client:
        token = client.post(
            "/api/v1/auth/login", json={"name": "signs-out", "password": "a long passphrase"}
        ).json()["token"]
        assert client.get("/api/v1/auth/me", headers=auth(token)).status_code == 200
        assert client.post("/api/v1/auth/logout", headers=auth(token)).status_code == 204
        assert client.get("/api/v1/auth/me", headers=auth(token)).status_code == 401
        assert client.post("/api/v1/auth/logout").status_code == 401
