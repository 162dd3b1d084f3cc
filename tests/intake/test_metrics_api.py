"""``/api/v1/metrics``: the evaluation's functions over HTTP, in JSON and CSV, and clear 422s."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from intake.app import create_app
from tests.staffing import auth, staff_token
from urbangrid.columns import utcnow
from urbangrid.db import make_engine
from urbangrid.domain.metrics import parse_period
from urbangrid.metrics import Dimension, Scope, evaluate, evaluate_steps
from urbangrid.settings import Settings

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def period() -> str:
    today = utcnow().astimezone(TZ).date()
    return f"{today - timedelta(days=45)}..{today - timedelta(days=1)}"


@pytest.fixture
def client(season_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(database_url=season_url, var_dir=tmp_path / "var")
    engine = make_engine(season_url)
    token = staff_token(engine, "admin", "city")  # city scope: every figure, unnarrowed
    engine.dispose()
    with TestClient(create_app(settings), headers=auth(token)) as test_client:
        yield test_client


@pytest.mark.parametrize("dimension", list(Dimension))
def test_json_is_the_evaluation(
    client: TestClient, season_url: str, period: str, dimension: Dimension
) -> None:
    answer = client.get(f"/api/v1/metrics/{dimension}", params={"period": period, "lang": "en"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["period"]["label"] == period and body["dimension"] == dimension
    engine = make_engine(season_url)
    with Session(engine) as session:
        expected = evaluate(
            session,
            period=parse_period(period, tz=TZ, today=utcnow().astimezone(TZ).date()),
            by=dimension,
            now=utcnow(),
            lang="en",
        )
    engine.dispose()
    assert [row["key"] for row in body["rows"]] == [e.key for e in expected]
    for row, evaluation in zip(body["rows"], expected, strict=True):
        assert row == pytest.approx(evaluation.flat())


def test_csv_carries_the_same_rows(client: TestClient, period: str) -> None:
    params = {"period": period, "category": "E05"}
    as_json = client.get("/api/v1/metrics/departments", params=params).json()["rows"]
    answer = client.get("/api/v1/metrics/departments", params={**params, "format": "csv"})
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    text = answer.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["key"] for r in rows] == [str(r["key"] or "") for r in as_json]
    for row, original in zip(rows, as_json, strict=True):
        assert int(row["due"]) == original["due"]
        rate = original["closure_rate"]
        assert (row["closure_rate"] == "") if rate is None else float(row["closure_rate"]) == rate
    accepted = client.get(
        "/api/v1/metrics/departments", params=params, headers={"accept": "text/csv"}
    )
    assert accepted.content == answer.content


def test_filters_narrow_the_figures(client: TestClient, period: str) -> None:
    city = client.get("/api/v1/metrics/total", params={"period": period}).json()["rows"][0]
    districts = client.get("/api/v1/metrics/districts", params={"period": period}).json()["rows"]
    assert sum(d["received"] for d in districts) == city["received"]
    one = max(districts, key=lambda d: d["received"])
    narrowed = client.get(
        "/api/v1/metrics/total", params={"period": period, "area": one["key"]}
    ).json()
    assert narrowed["filters"]["area"] == one["key"]
    assert narrowed["rows"][0]["received"] == one["received"]


def test_ranking_lists_every_department_best_first(client: TestClient) -> None:
    body = client.get("/api/v1/metrics/ranking", params={"lang": "en"}).json()
    ranks = [row["rank"] for row in body["rows"] if row["rank"] is not None]
    assert ranks == sorted(ranks) and ranks[0] == 1
    ranked = [row for row in body["rows"] if row["ranked"]]
    assert body["rows"][: len(ranked)] == ranked  # the unranked follow the ranked
    scores = [row["score"] for row in ranked]
    assert scores == sorted(scores, reverse=True)
    minimum = Settings().ranking_min_cases
    assert all(row["due"] >= minimum for row in ranked)
    assert all(row["rank"] is None for row in body["rows"] if row["due"] < minimum)
    assert all(row["grade"] in {"A", "B", "C", "D", "E"} for row in body["rows"] if row["score"])
    departments = client.get("/api/v1/metrics/departments", params={"period": "1d"}).json()
    assert {row["key"] for row in body["rows"]} >= {
        row["key"] for row in departments["rows"] if row["key"]
    }
    assert "-Q" in body["period"]["label"]


def test_trend_and_open_now(client: TestClient, period: str) -> None:
    weeks = client.get("/api/v1/metrics/trend", params={"period": period, "unit": "week"}).json()
    city = client.get("/api/v1/metrics/total", params={"period": period}).json()["rows"][0]
    assert sum(w["received"] for w in weeks["rows"]) == city["received"]
    assert sum(w["dispatches"] for w in weeks["rows"]) == city["dispatches"]
    now = client.get("/api/v1/metrics/open/departments").json()["rows"]
    total = client.get("/api/v1/metrics/open/total").json()["rows"][0]
    assert sum(r["open"] for r in now) == total["open"] > 0
    assert all(r["overdue"] + r["at_risk"] + r["suspended"] <= r["open"] for r in now)


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("departments", {"period": "2026-13"}, "period"),
        ("departments", {"period": "last week"}, "period"),
        ("departments", {"period": "2026-03-10..2026-03-01"}, "period"),
        ("departments", {"area": "999999"}, "area"),
        ("departments", {"department": "no-such-department"}, "department"),
        ("departments", {"category": "Z9"}, "category"),
        ("departments", {"lang": "fr"}, "lang"),
        ("departments", {"format": "xml"}, "format"),
        ("streets-and-more", {}, "dimension"),
        ("trend", {"unit": "fortnight"}, "unit"),
        ("trend", {"unit": "day", "period": "2020..2026-01-01"}, "period"),
        ("trend", {"unit": "day", "period": "2020-01-01..2026-01-01"}, "unit"),
    ],
)
def test_bad_queries_name_the_field(
    client: TestClient, path: str, params: dict[str, str], field: str
) -> None:
    answer = client.get(f"/api/v1/metrics/{path}", params=params)
    assert answer.status_code == 422, answer.text
    assert any(error["loc"][-1] == field for error in answer.json()["detail"]), answer.json()


def test_scope_matches_the_functions(client: TestClient, season_url: str, period: str) -> None:
    engine = make_engine(season_url)
    with Session(engine) as session:
        expected = evaluate(
            session,
            period=parse_period(period, tz=TZ, today=utcnow().astimezone(TZ).date()),
            by=Dimension.CATEGORIES,
            scope=Scope(department="enforcement"),
            now=utcnow(),
        )
    engine.dispose()
    body = client.get(
        "/api/v1/metrics/categories", params={"period": period, "department": "enforcement"}
    ).json()
    assert {r["key"]: r["due"] for r in body["rows"]} == {e.key: e.counts.due for e in expected}


@pytest.mark.parametrize("by", ["role", "actor"])
def test_roles_are_the_evaluation_per_role(
    client: TestClient, season_url: str, period: str, by: str
) -> None:
    answer = client.get("/api/v1/metrics/roles", params={"period": period, "by": by})
    assert answer.status_code == 200, answer.text
    rows = answer.json()["rows"]
    engine = make_engine(season_url)
    with Session(engine) as session:
        expected = evaluate_steps(
            session,
            period=parse_period(period, tz=TZ, today=utcnow().astimezone(TZ).date()),
            now=utcnow(),
            by_actor=by == "actor",
        )
    engine.dispose()
    assert len(rows) == len(expected)
    for row, wanted in zip(rows, expected, strict=True):
        assert row == pytest.approx(wanted)
    # The season's history has every stage's clocks, each credited to someone.
    assert {row["stage"] for row in rows} == {"file", "dispatch", "handle", "check", "case"}
    assert all(row["done"] <= row["due"] and row["on_time"] <= row["done"] for row in rows)
    if by == "actor":
        assert any(str(row["actor"]).startswith("supervisor") for row in rows)
    as_csv = client.get(
        "/api/v1/metrics/roles", params={"period": period, "by": by, "format": "csv"}
    )
    read = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert [(r["stage"], r["role"], r["due"]) for r in read] == [
        (r["stage"], r["role"], str(r["due"])) for r in rows
    ]


def test_roles_name_a_bad_grouping(client: TestClient) -> None:
    answer = client.get("/api/v1/metrics/roles", params={"by": "mood"})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "by"]


def test_the_ranking_floor_is_a_setting(season_url: str, tmp_path: Path) -> None:
    rows = {}
    for floor in (0, 10**9):
        settings = Settings(
            database_url=season_url,
            var_dir=tmp_path / "var",
            ranking_min_cases=floor,
            public_dashboard=True,  # the ranking as the city publishes it, read without a token
        )
        with TestClient(create_app(settings)) as client:
            rows[floor] = client.get("/api/v1/metrics/ranking").json()["rows"]
    assert all(not row["ranked"] and row["rank"] is None for row in rows[10**9])
    assert all(row["ranked"] for row in rows[0] if row["score"] is not None)
    assert {row["key"] for row in rows[0]} == {row["key"] for row in rows[10**9]}
