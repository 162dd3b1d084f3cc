"""Each dashboard page runs under Streamlit's AppTest and shows the metrics API's numbers."""

from __future__ import annotations

import json
import re
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

from dashboard.i18n import t
from dashboard.show import count, percent
from intake.app import create_app
from tests.staffing import auth, staff_token
from urbangrid.core.columns import utcnow
from urbangrid.core.db import make_engine
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


def sign_in(monkeypatch: pytest.MonkeyPatch, settings: Settings, role: str, scope: str) -> str:
    """Open the pages as a staff member: the session cookie's token, as the browser would send.

    AppTest cannot send cookies, so the one function that reads the cookie answers instead.
    """
    engine = make_engine(settings.effective_database_url)
    token = staff_token(engine, role, scope)
    engine.dispose()
    monkeypatch.setattr("dashboard.viewer.cookie_token", lambda: token)
    return token


@pytest.fixture
def api(dashboard_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The metrics API, and the pages, as a city administrator (every figure, unnarrowed)."""
    token = sign_in(monkeypatch, dashboard_env, "admin", "city")
    with TestClient(create_app(dashboard_env), headers=auth(token)) as client:
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
    # The ranking, once, every department listed, in the API's order and one number format.
    assert len(at.table) == 1
    ranking = at.table[0].value
    quarter = rows(api, "ranking", lang="en")
    assert list(ranking["Name"]) == [row["name"] for row in quarter.values()]
    assert "City management enforcement" in set(ranking["Name"])  # English, not 城管执法
    assert list(ranking.index) == [
        str(row["rank"]) if row.get("ranked", row["rank"] is not None) else "unranked"
        for row in quarter.values()
    ]
    assert all(str(v).endswith("%") or v == "—" for v in ranking["Closure rate"])
    assert [b.label for b in at.get("download_button")] == [
        "Download CSV",
        "Download Excel",
        "Download CSV",
        "Download Excel",
    ]
    # The evaluation per role: the same steps, counts and rates as /metrics/roles.
    steps = frame(at, 1, "step_on_time_rate")
    answer = api.get("/api/v1/metrics/roles", params={"period": period, "lang": "en"})
    expected_steps = answer.json()["rows"]
    assert len(steps) == len(expected_steps) > 0
    for (_, shown), row in zip(steps.iterrows(), expected_steps, strict=True):
        assert shown["stage_name"] == row["stage_name"]
        assert shown["step_due"] == row["due"] and shown["step_done"] == row["done"]
        assert same(shown["step_on_time_rate"], row["on_time_rate"]), row
    assert "Supervisor" in set(steps["role"]) and "Dispatcher" in set(steps["role"])
    staff = frame(at, 2, "actor")
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


def test_a_department_sees_its_own_queue_worst_first_in_words(
    api: TestClient, dashboard_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    department = "enforcement"
    sign_in(monkeypatch, dashboard_env, "department", f"department:{department}")
    # The address asks for another department: the page keeps to the account's own.
    at = open_page("queue", lang="en", dept="sanitation-310101")
    assert at.title[0].value.startswith("Work queue")
    now = rows(api, "open/departments")[department]
    assert f"{min(now['open'], 30)} of {now['open']}, worst first" in [c.value for c in at.caption]
    name = rows(api, "departments", lang="en")[department]["name"]
    cards = [c for c in at.main.caption if name in c.value]
    assert len(cards) == min(now["open"], 30)
    text = " ".join(m.value for m in at.markdown)
    assert f"Overdue {now['overdue']}" in text
    marks = re.findall(
        r":(red|orange|green|violet|gray)-badge\[(Overdue|At risk|On track|Paused|No deadline)\] ",
        text,
    )
    order = ["Overdue", "At risk", "On track", "Paused", "No deadline"]
    assert [m for _, m in marks] == sorted((m for _, m in marks), key=order.index)  # worst first
    for state in ("IN_PROGRESS", "DISPATCHED", "None", "hours left"):
        assert state not in text + " ".join(c.value for c in at.caption)


def test_filters_live_in_the_url_and_survive_moving_between_pages(
    dashboard_env: Settings, period: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_in(monkeypatch, dashboard_env, "shift_lead", "city")
    at = open_page(None, period=period, lang="zh", dept="enforcement", cat="E05")
    at.switch_page("views/departments.py").run()
    assert not at.exception
    assert at.query_params["dept"] == "enforcement" and at.query_params["cat"] == "E05"
    assert at.query_params["period"] == period
    table = frame(at, 0, "filed")
    assert list(table["key"]) == ["enforcement"]
    assert at.title[0].value.startswith("部门考评")


def test_a_bad_filter_in_the_url_is_refused_in_words(
    dashboard_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_in(monkeypatch, dashboard_env, "shift_lead", "city")
    at = open_page(None, period="2026-13", lang="en")
    assert at.sidebar.warning, "an impossible period is pointed out"
    assert not at.exception


def shown_text(at: AppTest) -> str:
    parts = [
        e.value for kind in ("markdown", "caption", "title", "subheader") for e in at.get(kind)
    ]
    parts += [e.value for e in at.info]
    parts += [str(m.label) + " " + str(m.value) for m in at.metric]
    return " ".join(str(p) for p in parts)


def test_without_sign_in_nothing_is_shown_when_the_city_publishes_nothing(
    dashboard_env: Settings,
) -> None:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update({"lang": "en", "dept": "enforcement"})
    at.run()
    assert not at.exception
    assert not at.dataframe and not at.table and not at.metric
    assert "Sign in as staff" in shown_text(at)
    # No other page exists for this visitor: the queue is not there to switch to.
    with pytest.raises(Exception):  # noqa: B017
        at.switch_page("views/queue.py").run()


def test_published_figures_are_the_ranking_and_city_totals_only(
    dashboard_env: Settings, monkeypatch: pytest.MonkeyPatch, api: TestClient
) -> None:
    monkeypatch.setenv("URBANGRID_PUBLIC_DASHBOARD", "on")
    monkeypatch.setattr("dashboard.viewer.cookie_token", lambda: None)
    get_settings.cache_clear()
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update({"lang": "en"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.dataframe and len(at.table) == 1  # no case list, no table per person
    quarter = rows(api, "ranking", lang="en")
    assert list(at.table[0].value["Name"]) == [row["name"] for row in quarter.values()]
    shown = {m.label: m.value for m in at.metric}
    assert set(shown) == {
        "Received",
        "Closed",
        "Closure rate",
        "On-time closure rate",
        "Satisfaction rate",
        "Open now",
        "Overdue now",
        "At risk",
    }
    assert "Work queue" not in shown_text(at) and "Per member of staff" not in shown_text(at)


def chart_colours(at: AppTest) -> list[dict[str, str]]:
    """Each chart's colour per series, as the browser is told to draw it (words → colour)."""
    found = []
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        scale = spec["encoding"]["color"]["scale"]
        found.append(dict(zip(scale["domain"], scale["range"], strict=True)))
    return found


def test_trend_colours_follow_the_measure_not_the_language(
    dashboard_env: Settings, period: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A head who switches the language must not find "closed" drawn in received's colour."""
    sign_in(monkeypatch, dashboard_env, "shift_lead", "city")
    charts = {
        lang: chart_colours(open_page(None, period=period, lang=lang)) for lang in ("en", "zh")
    }
    series = [("received", "closed", "overdue"), ("closure_rate", "on_time_closure_rate")]
    assert len(charts["en"]) == len(charts["zh"]) == len(series)
    for keys, en, zh in zip(series, charts["en"], charts["zh"], strict=True):
        colours = [en[t(key, "en")] for key in keys]
        assert colours == [zh[t(key, "zh")] for key in keys], (en, zh)
        assert len(set(colours)) == len(keys)  # and the lines are told apart


def busiest_area(settings: Settings, level: int) -> tuple[str, dict[int, str | None]]:
    """The level-``level`` area with most open cases, and every open case's code there."""
    from sqlalchemy import func, select
    from sqlmodel import Session

    from urbangrid.core.tables import Case
    from urbangrid.domain.states import OPEN_STATES

    column = (Case.l1_code, Case.l2_code, Case.l3_code)[level - 1]
    engine = make_engine(settings.effective_database_url)
    with Session(engine) as session:
        area = session.execute(
            select(column)
            .where(Case.state.in_(sorted(OPEN_STATES)))  # type: ignore[attr-defined]
            .where(column.is_not(None))  # type: ignore[union-attr]  # reports not yet placed
            .group_by(column)
            .order_by(func.count().desc(), column)
            .limit(1)
        ).scalar_one()
        codes = dict(
            session.execute(
                select(Case.id, column).where(Case.state.in_(sorted(OPEN_STATES)))  # type: ignore[attr-defined,call-overload]
            ).all()
        )
    engine.dispose()
    return str(area), codes


@pytest.mark.parametrize("level", [2, 3])
def test_grid_staff_see_the_cases_of_their_area_only(
    dashboard_env: Settings, monkeypatch: pytest.MonkeyPatch, level: int
) -> None:
    """A street's (or a community's) supervisor: its own cases in the API and the work queue,
    whatever area the address asks for; another area's case is not there, not even by id."""
    area, codes = busiest_area(dashboard_env, level)
    inside = {case for case, code in codes.items() if code == area}
    outside = min(case for case, code in codes.items() if code != area)
    token = sign_in(monkeypatch, dashboard_env, "supervisor", f"grid:{area}")
    from urbangrid.domain.states import OPEN_STATES

    states = [("state", str(s)) for s in sorted(OPEN_STATES)]
    with TestClient(create_app(dashboard_env), headers=auth(token)) as api:
        listed = api.get("/api/v1/cases", params=[*states, ("limit", "500")]).json()
        assert {item["id"] for item in listed["items"]} == inside and listed["total"] == len(inside)
        assert api.get(f"/api/v1/cases/{outside}").status_code == 404
        assert api.get(f"/api/v1/cases/{min(inside)}").status_code == 200
        now = api.get("/api/v1/metrics/open/total").json()["rows"][0]
        assert now["open"] == len(inside)
    if level == 3:
        return  # the page below is the same for a community
    # The address asks for the whole city: the queue keeps to the account's street.
    at = open_page("queue", lang="en", area=area[:6])
    assert f"{min(len(inside), 30)} of {len(inside)}, worst first" in [c.value for c in at.caption]
    cards = [m.value for m in at.markdown if m.value.startswith("**#")]
    shown = {int(re.match(r"\*\*#(\d+)", card).group(1)) for card in cards}  # type: ignore[union-attr]
    assert shown and shown <= inside
