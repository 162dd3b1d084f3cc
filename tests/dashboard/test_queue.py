"""The work queue with a staff token: the list is the staff API's, and acting goes through it.

A real API process on a free port, a department account from the staff tables, and the page run
under AppTest: the dashboard itself never writes to the database.
"""

from __future__ import annotations

import io
import json
import sqlite3
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlmodel import Session, col

from tests.dashboard.test_pages import open_page
from tests.ports import answers, free_port
from tests.processes import urbangrid_process, wait_until
from tests.staffing import case_row, staff_token
from urbangrid.core.db import make_engine
from urbangrid.core.grids import area_names
from urbangrid.core.settings import get_settings
from urbangrid.core.tables import Case, CaseEvent, GridArea
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


@contextmanager
def dashboard_as(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    url: str,
    staff_api: str,
    role: str,
    scope: str,
    name: str | None = None,
) -> Iterator[Engine]:
    """The dashboard's pages on the database at ``url``, run under AppTest by a new member of
    staff (``role`` within ``scope``) acting through the staff API at ``staff_api``; settings
    and caches are fresh before and after. Yields an engine on that database."""
    engine = make_engine(url)
    token = staff_token(engine, role, scope, name=name)
    monkeypatch.setenv("URBANGRID_DATABASE_URL", url)
    monkeypatch.setenv("URBANGRID_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("URBANGRID_DASHBOARD_STAFF_API_URL", staff_api)
    monkeypatch.setattr("dashboard.viewer.cookie_token", lambda: token)
    get_settings.cache_clear()
    st.cache_data.clear()
    try:
        yield engine
    finally:
        engine.dispose()
        get_settings.cache_clear()
        st.cache_data.clear()


def department_clerk(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, staff_api: str, name: str
) -> AbstractContextManager[Engine]:
    """:func:`dashboard_as` a new member of the department's staff."""
    return dashboard_as(
        monkeypatch, tmp_path, url, staff_api, "department", f"department:{DEPARTMENT}", name
    )


def working_case(engine: Engine, *, waiting_on_nothing: bool = False) -> int:
    """A case the department is handling (with no request of its own pending, if asked)."""
    query = select(Case.id).where(  # type: ignore[call-overload]
        Case.department_code == DEPARTMENT, Case.state == "IN_PROGRESS"
    )
    if waiting_on_nothing:
        query = query.where(Case.pending_request.is_(None))  # type: ignore[union-attr]
    with Session(engine) as session:
        return int(session.execute(query.limit(1)).scalar_one())


@pytest.mark.slow
def test_a_department_acts_on_a_case_page_through_the_staff_api(
    own_season: str, staff_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with department_clerk(monkeypatch, tmp_path, own_season, staff_api, "dept-clerk") as engine:
        working = working_case(engine, waiting_on_nothing=True)
        at = open_page("case", lang="en", id=str(working))
        assert at.title[0].value.startswith(f"#{working} · ")
        action = at.radio(key=f"case_action_{working}")
        assert "Ask for more time" in action.options  # the step in words, not its code
        action.set_value("request_extension").run()
        # The step's own fields: how long and why; a form takes them together when sent.
        at.text_input(key="case_by").input("1wd")
        at.text_area(key="case_reason").input("materials on order")
        at.text_area(key="case_note").input("crew 7 waits for a cover")
        at.button[0].click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert any("Ask for more time" in s.value for s in at.success)
        # The next step's form starts empty: the internal note is not offered again as a comment.
        assert at.text_area(key="case_note").value == ""
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

        # Another department's case is not there for this account, not even its existence.
        with Session(engine) as session:
            other = session.execute(
                select(Case.id)  # type: ignore[call-overload]
                .where(Case.department_code != DEPARTMENT, Case.state.in_(sorted(OPEN_STATES)))  # type: ignore[attr-defined]
                .limit(1)
            ).scalar_one()
        at = open_page("case", lang="en", id=str(other))
        assert any("404" in e.value for e in at.error) and not at.get("form")


def test_without_a_staff_api_a_case_page_says_so_and_offers_nothing(
    season_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{nobody}/healthz", timeout=1)
    with dashboard_as(
        monkeypatch, tmp_path, season_url, nobody, "department", f"department:{DEPARTMENT}"
    ):
        at = open_page("queue", lang="en")
        assert at.main.caption, "the queue reads the database: it works without the API"
        at = open_page("case", lang="en", id="1")
        assert not at.exception
        assert any("Read-only" in w.value for w in at.warning)
        assert not at.get("form")


def flag_near_boundary(url: str) -> tuple[int, str, str]:
    """A case a street office is handling, flagged as the router flags a report near its
    street's boundary: (case id, its street, the neighbouring street it names)."""
    engine = make_engine(url)
    with Session(engine) as session:
        case = session.execute(
            select(Case)
            .where(Case.state == "IN_PROGRESS", col(Case.department_code).startswith("so-"))
            .order_by(Case.id)  # type: ignore[arg-type]
            .limit(1)
        ).scalar_one()
        streets = dict(
            session.execute(
                select(GridArea.code, GridArea.geom).where(  # type: ignore[call-overload]
                    GridArea.version_id == case.grid_version_id, GridArea.level == 2
                )
            ).all()
        )
        own = streets[case.l2_code]
        # A neighbour in the same district first: a district's dispatcher keeps the case in view.
        neighbour = min(
            (
                code
                for code, shape in streets.items()
                if code != case.l2_code and shape.touches(own)
            ),
            key=lambda code: (code[:6] != case.l2_code[:6], code),  # type: ignore[index]
        )
        case.near_boundary = neighbour
        session.add(case)
        session.commit()
        found = (int(case.id), str(case.l2_code), str(neighbour))  # type: ignore[arg-type]
    engine.dispose()
    return found


@pytest.mark.slow
def test_a_dispatcher_sees_a_boundary_report_and_moves_it_to_the_neighbour(
    own_season: str, staff_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case_id, street, neighbour = flag_near_boundary(own_season)
    with dashboard_as(
        monkeypatch, tmp_path, own_season, staff_api, "dispatcher", "city", name="dispatcher-7"
    ) as engine:
        with Session(engine) as session:
            names = area_names(
                session, case_row(engine, case_id).grid_version_id or 0, [street, neighbour]
            )
        # The queue: the flagged reports on their own, each card naming the neighbour.
        at = open_page("queue", lang="en")
        shown = at.radio(key="queue_clock")
        assert "Near a boundary" in shown.options
        shown.set_value("near_boundary").run()
        text = " ".join(m.value for m in at.markdown)
        assert f"#{case_id} ·" in text
        assert f"Near a street boundary: may belong to {names[neighbour]}" in text

        # The case page: the warning names both streets; the two steps name where each leaves it.
        at = open_page("case", lang="en", id=str(case_id))
        assert any(names[neighbour] in w.value and names[street] in w.value for w in at.warning)
        action = at.radio(key=f"case_action_{case_id}")
        assert {
            f"Confirm the street ({names[street]})",
            f"Move to the neighbouring street ({names[neighbour]})",
        } <= set(action.options)
        action.set_value("move_to_neighbour").run()
        assert f"Move to the neighbouring street ({names[neighbour]})" in [
            b.label for b in at.get("form_submit_button")
        ]
        at.text_area(key="case_note").input("the pothole is on the far kerb")
        at.get("form_submit_button")[0].click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert any("Move to the neighbouring street" in s.value for s in at.success)

        moved = case_row(engine, case_id)
        assert (moved.l2_code, moved.near_boundary) == (neighbour, None)
        assert moved.department_code == f"so-{neighbour}"  # re-routed to the neighbour's office
        with Session(engine) as session:
            steps = (
                session.execute(
                    select(CaseEvent)
                    .where(CaseEvent.case_id == case_id)  # type: ignore[arg-type]
                    .order_by(CaseEvent.id.desc())  # type: ignore[union-attr]
                    .limit(2)
                )
                .scalars()
                .all()
            )
        reroute, move = steps
        assert (move.action, move.actor) == ("move_to_neighbour", "dispatcher-7")
        assert json.loads(move.detail)["neighbour"] == neighbour
        assert "the pothole is on the far kerb" in move.note
        assert (
            reroute.action == "reroute"
            and json.loads(reroute.detail)["because"] == "move_to_neighbour"
        )


def join_with_a_photo(api: str, url: str, *, within: str = "") -> tuple[int, int]:
    """A resident's photo report of the same problem next to a recent open case (in the area
    ``within``), sent to the running API, which joins it to that case: (the case, the report
    that joined it)."""
    import httpx
    from PIL import Image

    engine = make_engine(url)
    with Session(engine) as session:
        case = session.execute(
            select(Case)
            .where(col(Case.l2_code).startswith(within))
            .where(
                col(Case.state).in_(["DISPATCHED", "IN_PROGRESS"]), col(Case.duplicate_of).is_(None)
            )
            .order_by(col(Case.created_at).desc())
            .limit(1)
        ).scalar_one()
        target, category, lat, lon = int(case.id or 0), case.category_code, case.lat, case.lon
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 120, 40)).save(buffer, "JPEG")
    answer = httpx.post(
        f"{api}/api/v1/reports",
        data={
            "category": category,
            "lat": str(lat + 0.0001),
            "lon": str(lon),
            "description": "还在",
        },
        files=[("photos", ("same.jpg", buffer.getvalue(), "image/jpeg"))],
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    joined = answer.json()
    assert joined["duplicate_of"] == target, joined
    engine.dispose()
    return target, int(joined["id"])


@pytest.mark.slow
def test_a_case_page_shows_the_photos_of_the_reports_that_joined_it(
    own_season: str, staff_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case_id, report = join_with_a_photo(staff_api, own_season)
    with dashboard_as(monkeypatch, tmp_path, own_season, staff_api, "shift_lead", "city"):
        at = open_page("case", lang="en", id=str(case_id))
        assert at.title[0].value.startswith(f"#{case_id} · ")
        # No worker runs here: the photo waits to be processed, and says whose it is.
        assert f"photo being processed · From report #{report}, which joined this case" in [
            c.value for c in at.main.caption
        ]


@pytest.mark.slow
def test_staff_see_the_original_of_a_hidden_photo_on_the_case_page(
    own_season: str, staff_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shift lead hid a resident's photo from the public; the department working the case
    still sees it, as taken (the stored original, fetched with the staff token), marked hidden."""
    import hashlib

    from PIL import Image

    from urbangrid.core.storage import object_key, open_storage
    from urbangrid.core.tables import Photo

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "JPEG")
    original = buffer.getvalue()
    digest = hashlib.sha256(original).hexdigest()
    storage = open_storage("", var_dir=tmp_path / "var")  # the API's, as the fixture sets it
    storage.put(object_key("photos", digest, ".jpg"), original, "image/jpeg")
    with department_clerk(monkeypatch, tmp_path, own_season, staff_api, "dept-viewer") as engine:
        working = working_case(engine)
        with Session(engine) as session:
            session.add(
                Photo(
                    case_id=int(working),
                    state="ready",
                    raw_sha256=digest,
                    raw_format="jpeg",
                    raw_bytes=len(original),
                    digest=digest,
                    width=64,
                    height=48,
                    hidden=True,
                )
            )
            session.commit()
        at = open_page("case", lang="en", id=str(working))
        assert not at.exception and not at.error, [e.value for e in at.error]
        images = [e for e in at.main if type(e).__name__ == "Image"]
        hidden = [i for i in images if "hidden from the public" in str(i.proto)]
        assert hidden, ("the hidden photo is not on the case page", [str(i.proto) for i in images])
        # Shown through Streamlit's media store (the bytes the API gave the token's holder),
        # not by a public URL, which answers 404 for a hidden photo.
        assert "/api/v1/photos/" not in str(hidden[0].proto), str(hidden[0].proto)
