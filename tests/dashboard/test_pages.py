"""Each dashboard page runs under Streamlit's AppTest and shows the metrics API's numbers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import streamlit as st
from fastapi.testclient import TestClient
from streamlit.testing.v1 import AppTest

from dashboard.show import count, percent
from intake.app import create_app
from urbangrid.core.columns import utcnow
from urbangrid.core.settings import Settings, get_settings

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
TZ = ZoneInfo("Asia/Shanghai")


def past_period() -> str:
    """Sixty days that ended yesterday: figures that no longer move while the test runs."""
    today = utcnow().astimezone(TZ).date()
    return f"{today - timedelta(days=60)}..{today - timedelta(days=1)}"


@pytest.fixture(scope="module")
def period() -> str:
    return past_period()


@pytest.fixture
def dashboard_env(
    season_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    monkeypatch.setenv("URBANGRID_DATABASE_URL", season_url)
    monkeypatch.setenv("URBANGRID_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    st.cache_data.clear()
    yield get_settings()
    get_settings.cache_clear()
    st.cache_data.clear()


@pytest.fixture
def api(dashboard_env: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(dashboard_env)) as client:
        yield client


def rows(api: TestClient, path: str, **params: str) -> dict[str, dict[str, Any]]:
    answer = api.get(f"/api/v1/metrics/{path}", params=params)
    assert answer.status_code == 200, answer.text
    return {str(row["key"]): row for row in answer.json()["rows"]}


def open_page(page: str | None, **params: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update(params)
    at.run()
    if page is not None:
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def same(shown: Any, expected: Any) -> bool:
    """A table's figure equals the API's (a missing rate is NaN in one and null in the other)."""
    if expected is None:
        return shown is None or bool(pd.isna(shown))
    return bool(shown == pytest.approx(expected))


def frame(at: AppTest, position: int, column: str) -> pd.DataFrame:
    """The page's ``position``-th sortable table, checked to be the one holding ``column``."""
    value: pd.DataFrame = at.dataframe[position].value
    assert column in value.columns, list(value.columns)
    if "key" in value.columns:
        value = value.assign(key=value["key"].map(lambda k: "None" if pd.isna(k) else str(k)))
    return value


def test_overview_shows_the_api_totals(api: TestClient, period: str) -> None:
    at = open_page(None, period=period, lang="en")
    assert at.title[0].value.startswith("Overview")
    shown = {m.label: m.value for m in at.metric}
    total = rows(api, "total", period=period)["all"]
    assert shown["Received"] == count(total["received"])
    assert shown["Closed"] == count(total["closed"])
    assert shown["Closure rate"] == percent(total["closure_rate"])
    assert shown["On-time closure rate"] == percent(total["on_time_closure_rate"])
    now = rows(api, "open/total")["all"]
    assert shown["Open now"] == count(now["open"])
    assert shown["Overdue now"] == count(now["overdue"])
    assert total["received"] > 100  # the season is there: a page of zeros would prove nothing


def test_departments_page_matches_the_api_and_ranks_every_department(
    api: TestClient, period: str
) -> None:
    at = open_page("departments", period=period, lang="en")
    assert at.title[0].value.startswith("Departments")
    table = frame(at, 0, "filed").set_index("key")
    expected = rows(api, "departments", period=period)
    assert set(table.index) == set(expected)
    for key, row in expected.items():
        for measure in ("due", "closed", "closure_rate", "on_time_handling_rate", "score"):
            assert same(table.loc[key, measure], row[measure]), (key, measure)
    ranking = frame(at, 1, "rank").set_index("key")
    quarter = rows(api, "ranking")
    assert set(ranking.index) == set(quarter)  # every department, even without cases
    for key, row in quarter.items():
        assert same(ranking.loc[key, "rank"], row["rank"]), key
    assert [b.label for b in at.get("download_button")] == [
        "Download CSV",
        "Download Excel",
        "Download CSV",
        "Download Excel",
    ]
    # The evaluation per role: the same steps, counts and rates as /metrics/roles.
    steps = frame(at, 2, "step_on_time_rate")
    answer = api.get("/api/v1/metrics/roles", params={"period": period, "lang": "en"})
    expected_steps = answer.json()["rows"]
    assert len(steps) == len(expected_steps) > 0
    for (_, shown), row in zip(steps.iterrows(), expected_steps, strict=True):
        assert shown["stage_name"] == row["stage_name"]
        assert shown["step_due"] == row["due"] and shown["step_done"] == row["done"]
        assert same(shown["step_on_time_rate"], row["on_time_rate"]), row
    assert "Supervisor" in set(steps["role"]) and "Dispatcher" in set(steps["role"])
    staff = frame(at, 3, "actor")
    assert staff["step_due"].sum() == steps["step_due"].sum()


def test_map_page_matches_the_api_per_district_and_drills_down(
    api: TestClient, period: str
) -> None:
    at = open_page("map", period=period, lang="en")
    assert at.title[0].value.startswith("Map")
    table = frame(at, 0, "overdue_now").set_index("key")
    expected = rows(api, "districts", period=period)
    now = rows(api, "open/districts")
    assert len(table) == 16
    for key in table.index:
        assert table.loc[key, "received"] == expected.get(key, {}).get("received", 0)
        assert same(table.loc[key, "closure_rate"], expected.get(key, {}).get("closure_rate"))
        assert table.loc[key, "open"] == now.get(key, {}).get("open", 0)
    busiest = str(table["received"].idxmax())
    streets = open_page("map", period=period, lang="en", area=busiest)
    inside = frame(streets, 0, "overdue_now")
    assert len(inside) > 1 and all(str(code).startswith(busiest) for code in inside["key"])
    assert inside["received"].sum() == table.loc[busiest, "received"]


def test_categories_page_matches_the_api(api: TestClient, period: str) -> None:
    at = open_page("categories", period=period, lang="en")
    assert at.title[0].value.startswith("Categories")
    majors = frame(at, 0, "on_time_handling_rate").set_index("key")
    expected = rows(api, "majors", period=period)
    assert set(majors.index) == set(expected)
    for key, row in expected.items():
        assert majors.loc[key, "received"] == row["received"]
        assert same(majors.loc[key, "on_time_closure_rate"], row["on_time_closure_rate"])
    minors = frame(at, 1, "on_time_handling_rate")
    assert minors["received"].sum() == majors["received"].sum()


def test_work_queue_reads_the_database_when_there_is_no_staff_api(api: TestClient) -> None:
    department = "enforcement"
    at = open_page("queue", lang="en", dept=department)
    assert at.title[0].value.startswith("Work queue")
    queue = frame(at, 0, "clock")
    now = rows(api, "open/departments")[department]
    assert len(queue) == now["open"] and set(queue["department"]) == {department}
    shown = {m.label: m.value for m in at.metric}
    assert int(shown["overdue"]) == now["overdue"]
    clocks = list(queue["clock"])
    order = ["overdue", "at risk", "on track", "paused", "no deadline"]
    assert clocks == sorted(clocks, key=order.index)  # the worst first


def test_filters_live_in_the_url_and_survive_moving_between_pages(
    dashboard_env: Settings, period: str
) -> None:
    at = open_page(None, period=period, lang="zh", dept="enforcement", cat="E05")
    at.switch_page("views/departments.py").run()
    assert not at.exception
    assert at.query_params["dept"] == "enforcement" and at.query_params["cat"] == "E05"
    assert at.query_params["period"] == period
    table = frame(at, 0, "filed")
    assert list(table["key"]) == ["enforcement"]
    assert at.title[0].value.startswith("部门考评")


def test_a_bad_filter_in_the_url_is_refused_in_words(dashboard_env: Settings) -> None:
    at = open_page(None, period="2026-13", lang="en")
    assert at.sidebar.warning, "an impossible period is pointed out"
    assert not at.exception
