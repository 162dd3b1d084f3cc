"""The work queue with a staff token: the list is the staff API's, and acting goes through it.

A real API process on a free port, a department account from the staff tables, and the page run
under AppTest: the dashboard itself never writes to the database.
"""

from __future__ import annotations

import sqlite3
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlmodel import Session

from tests.dashboard.test_browser import answers, free_port
from tests.dashboard.test_pages import open_page
from tests.processes import urbangrid_process, wait_until
from tests.staffing import staff_token
from urbangrid.core.db import make_engine
from urbangrid.core.settings import get_settings
from urbangrid.core.tables import Case, CaseEvent
from urbangrid.domain.states import OPEN_STATES

DEPARTMENT = "enforcement"


@pytest.fixture
def own_season(season_url: str, tmp_path: Path) -> str:
    """A copy of the season (this test writes a step), taken with SQLite's backup API."""
    source = make_url(season_url).database
    assert source is not None
    copy = tmp_path / "queue.db"
    with sqlite3.connect(source) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    return f"sqlite:///{copy}"


@pytest.fixture
def staff_api(own_season: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        "URBANGRID_DATABASE_URL": own_season,
        "URBANGRID_VAR_DIR": str(tmp_path / "var"),
        "URBANGRID_API_PORT": str(port),
    }
    log = tmp_path / "api.log"
    with urbangrid_process(["api"], env, log):
        url = f"http://127.0.0.1:{port}"
        assert wait_until(lambda: answers(f"{url}/healthz"), 90, 0.3), log.read_text()
        yield url


@pytest.mark.slow
def test_a_department_sees_its_scope_and_acts_through_the_staff_api(
    own_season: str, staff_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(own_season)
    token = staff_token(engine, "department", f"department:{DEPARTMENT}", name="dept-clerk")
    monkeypatch.setenv("URBANGRID_DATABASE_URL", own_season)
    monkeypatch.setenv("URBANGRID_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("URBANGRID_DASHBOARD_STAFF_API_URL", staff_api)
    get_settings.cache_clear()
    st.cache_data.clear()
    try:
        at = open_page("queue", lang="en")
        at.text_input(key="queue_token").input(token).run()
        assert not at.exception, [e.value for e in at.exception]
        assert any(staff_api in c.value for c in at.caption), "the list came from the staff API"
        queue = at.dataframe[0].value
        assert len(queue) > 0 and set(queue["department"]) == {DEPARTMENT}  # the token's scope
        with Session(engine) as session:
            open_cases = session.execute(
                select(Case.id, Case.state).where(  # type: ignore[call-overload]
                    Case.department_code == DEPARTMENT,
                    # Every open state: the season is laid relative to now, so which open
                    # states the department's cases are in depends on the hour of the run.
                    Case.state.in_(sorted(OPEN_STATES)),  # type: ignore[attr-defined]
                )
            ).all()
        states = dict(open_cases)
        assert set(queue["id"]) <= set(states)
        working = next(i for i in queue["id"] if states[int(i)] == "IN_PROGRESS")

        at.selectbox(key="queue_case").select(working).run()
        assert "request_extension" in at.selectbox(key="queue_action").options
        # A form: its fields are taken together when it is submitted.
        at.selectbox(key="queue_action").select("request_extension")
        at.text_input(key="queue_by").input("1wd")
        at.text_input(key="queue_reason").input("materials on order")
        at.button[0].click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert any("request_extension" in s.value for s in at.success)
        with Session(engine) as session:
            step = session.execute(
                select(CaseEvent)
                .where(CaseEvent.case_id == int(working))  # type: ignore[arg-type]
                .order_by(CaseEvent.id.desc())  # type: ignore[union-attr]
                .limit(1)
            ).scalar_one()
            assert (step.action, step.actor) == ("request_extension", "dept-clerk")
            assert "materials on order" in step.note + step.detail
            assert session.get(Case, int(working)).pending_request == "extension"  # type: ignore[union-attr]
    finally:
        engine.dispose()
        get_settings.cache_clear()
        st.cache_data.clear()


def test_without_a_staff_api_the_queue_reads_the_database(
    season_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{nobody}/healthz", timeout=1)
    monkeypatch.setenv("URBANGRID_DATABASE_URL", season_url)
    monkeypatch.setenv("URBANGRID_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("URBANGRID_DASHBOARD_STAFF_API_URL", nobody)
    get_settings.cache_clear()
    st.cache_data.clear()
    try:
        at = open_page("queue", lang="en", dept=DEPARTMENT)
        at.text_input(key="queue_token").input("any-token").run()
        assert not at.exception
        assert any("Read-only" in w.value for w in at.warning)
        assert len(at.dataframe[0].value) > 0 and not at.get("form")
    finally:
        get_settings.cache_clear()
        st.cache_data.clear()
