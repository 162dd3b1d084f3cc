"""The running dashboard in headless Chromium, as its users meet it: staff sign in, see their
scope, work a case through the closed loop from a phone-sized page; nobody signed in sees no
case and no person. Screenshots go to test-artifacts/ (the queue and a case page, in Chinese and
English); nothing is fetched from outside this machine."""

from __future__ import annotations

import io
import re
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlmodel import Session

from tests.dashboard.test_pages import past_period
from tests.ports import answers, free_port
from tests.processes import ROOT, urbangrid_process, wait_until
from tests.services import services_required
from urbangrid.cases.staff import create_staff
from urbangrid.core.db import make_engine
from urbangrid.core.grids import active_version_id
from urbangrid.core.tables import Case, CaseEvent, Department, GridArea, Photo

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
PAGES = {
    "": "Overview",
    "departments": "Departments",
    "map": "Map",
    "categories": "Categories",
}
DEPARTMENT = "enforcement"
PHONE = {"width": 412, "height": 2400}  # a phone's width; tall, so a screenshot shows it all
RAW_CODES = re.compile(
    r"\b(REPORTED|VERIFYING|FILED|DISPATCHED|IN_PROGRESS|RETURNED|SUSPENDED|HANDLED|CHECKED|"
    r"CLOSED|VOID|check_pass|request_extension|[CE]\d{4}|\d{12,18})\b|\bNone\b|-\d+(\.\d+)? ?h\b"
)
ACCOUNTS = {
    "clerk": ("department", f"department:{DEPARTMENT}"),
    "inspector": ("supervisor", "city"),
    "lead": ("shift_lead", "city"),
}
PASSWORD = "correct horse battery"


def need_chromium() -> None:
    if not CHROMIUM.exists():
        if services_required():
            pytest.fail("Chromium is required in CI", pytrace=False)
        pytest.skip("no Chromium at /usr/bin/chromium")


@dataclass
class Stack:
    dashboard: str
    api: str
    database: str


@pytest.fixture
def stack(season_url: str, tmp_path: Path) -> Iterator[Stack]:
    """A copy of the season with staff accounts, and its API, worker and dashboard running."""
    source = make_url(season_url).database
    assert source is not None
    copy = tmp_path / "loop.db"
    with sqlite3.connect(source) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    url = f"sqlite:///{copy}"
    engine = make_engine(url)
    with Session(engine) as session:
        for name, (role, scope) in ACCOUNTS.items():
            create_staff(session, name, role, scope, password=PASSWORD)
        session.commit()
    engine.dispose()
    api_port, dashboard_port = free_port(), free_port()
    env = {
        "URBANGRID_DATABASE_URL": url,
        "URBANGRID_VAR_DIR": str(tmp_path / "var"),
        "URBANGRID_API_PORT": str(api_port),
        "URBANGRID_DASHBOARD_PORT": str(dashboard_port),
        "URBANGRID_DASHBOARD_STAFF_API_URL": f"http://127.0.0.1:{api_port}",
    }
    with ExitStack() as running:
        for args in (["api"], ["worker"], ["dashboard"]):
            log = tmp_path / f"{args[0]}.log"
            running.enter_context(urbangrid_process(args, env, log))
        api, dashboard = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{dashboard_port}"
        assert wait_until(lambda: answers(f"{api}/healthz"), 90, 0.5), "the API did not start"
        assert wait_until(lambda: answers(f"{dashboard}/_stcore/health"), 90, 0.5)
        yield Stack(dashboard, api, url)


@pytest.fixture
def browser() -> Iterator[Any]:
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        yield chromium
        chromium.close()


def guarded(page: Any, outside: list[str]) -> Any:
    """Refuse and note every request that would leave this machine."""

    def guard(route: Any) -> None:
        request = route.request
        if re.match(r"^(https?|wss?)://(127\.0\.0\.1|localhost)[:/]", request.url) or (
            request.url.startswith(("data:", "blob:"))
        ):
            route.continue_()
        else:
            outside.append(request.url)
            route.abort()

    page.route("**/*", guard)
    return page


def settle(page: Any) -> None:
    """Wait until Streamlit has finished a run and drawn what it loads lazily (links, maps)."""
    page.wait_for_timeout(400)
    page.locator("[data-testid='stStatusWidget']").wait_for(state="detached", timeout=60_000)
    for testid in ("stPageLink-NavLink", "stDeckGlJsonChart", "stRadio"):
        found = page.locator(f"[data-testid='{testid}']")
        if found.count():
            found.first.wait_for(state="visible", timeout=30_000)
    page.wait_for_timeout(1500)


def sign_in(page: Any, base: str, name: str, *, next_path: str, lang: str = "en") -> None:
    page.goto(f"{base}/staff/signin?lang={lang}&next={urllib.parse.quote(next_path, safe='')}")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(next_path.split("?")[0])), timeout=30_000)


def sign_out(page: Any, base: str) -> None:
    page.goto(f"{base}/staff/signout?lang=en")
    page.click("button[type=submit]")
    page.wait_for_load_state()


def main_text(page: Any) -> str:
    return str(page.locator("[data-testid='stMain']").inner_text())


def after_photo() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (40, 160, 90)).save(buffer, "JPEG")
    return buffer.getvalue()


def take_step(page: Any, words: str, fields: dict[str, str], photo: Path | None = None) -> None:
    """Choose a step by its words, fill its fields, send it, and wait for the answer."""
    option = page.locator("[data-testid='stMain'] [data-testid='stRadio'] label", has_text=words)
    try:
        option.first.click(timeout=60_000)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "failed-step.png"))
        raise
    settle(page)
    if photo is not None:
        page.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(str(photo))
        page.locator("[data-testid='stFileChipName']").first.wait_for(timeout=30_000)
        spinner = page.locator("[data-testid='stFileChipIconSpinner']")
        spinner.wait_for(state="detached", timeout=60_000)  # the photo has reached the server
    for label, value in fields.items():
        page.get_by_label(label).fill(value)
    page.get_by_role("button", name=words).click()
    page.locator("[data-testid='stAlertContentSuccess']").wait_for(timeout=60_000)
    settle(page)


def case_in_progress(url: str) -> int:
    engine = make_engine(url)
    with Session(engine) as session:
        found = session.execute(
            select(Case.id)  # type: ignore[call-overload]
            .where(Case.department_code == DEPARTMENT, Case.state == "IN_PROGRESS")
            .where(Case.pending_request.is_(None))  # type: ignore[union-attr]
            .order_by(Case.id)
            .limit(1)
        ).scalar_one()
    engine.dispose()
    return int(found)


def districts_of(url: str) -> list[str]:
    """The districts of the active grid, the one with most streets first."""
    engine = make_engine(url)
    with Session(engine) as session:
        version = active_version_id(session)
        streets = session.execute(
            select(GridArea.parent_code, func.count())  # type: ignore[call-overload]
            .where(GridArea.version_id == version, GridArea.level == 2)
            .group_by(GridArea.parent_code)
            .order_by(func.count().desc(), GridArea.parent_code)
        ).all()
    engine.dispose()
    return [str(code) for code, _ in streets]


def written_pixels(page: Any) -> int:
    """Pixels of the map drawn in the names' near-black: no area's fill or outline is as dark
    (the darkest fill is a deep red, the outlines a translucent mid-grey, all lighter than
    100 in some channel), so these are letters."""
    from PIL import Image

    chart = page.locator("[data-testid='stDeckGlJsonChart']").first
    shot = Image.open(io.BytesIO(chart.screenshot())).convert("RGB")
    return sum(1 for r, g, b in shot.get_flattened_data() if max(r, g, b) < 100)


def check_words(text: str, where: str) -> None:
    """No raw code, no None, no negative hours; every clock's mark agrees with its time."""
    assert not RAW_CODES.search(text), (where, RAW_CODES.search(text), text[:2000])
    late = re.compile(r"^(Overdue|已超期)\s*(overdue by|已超期)\s?\d")
    running = re.compile(r"^(On track|At risk|正常|即将超期)\s*(\d.* left|剩余\s?\d)")
    clocks = [line for line in text.splitlines() if re.search(r"\b(due|时限) \d\d-\d\d", line)]
    assert clocks, (where, text[:1000])
    for line in clocks:
        assert late.match(line) or running.match(line), (where, line)


def moderate_the_after_photo(page: Any, stack: Stack, case_id: int) -> None:
    """The shift lead covers the middle of the after-photo on its public copy, takes the cover
    off again, then takes the photo down: what a detector missed, caught by a person, from the
    case page."""
    from PIL import Image

    def public_photo() -> Photo:
        engine = make_engine(stack.database)
        with Session(engine) as session:
            found = session.execute(
                select(Photo).where(Photo.case_id == case_id, Photo.kind == "after")
            ).scalar_one()
        engine.dispose()
        return found

    def with_reason(words: str, button: str) -> None:
        """Type the step's reason, let the page take it, and press the step's button."""
        page.get_by_label("Reason (staff only)").fill(words)
        page.get_by_label("Reason (staff only)").press("Enter")
        settle(page)
        page.get_by_role("button", name=button).click()

    before = public_photo()
    assert before.redactions in (None, "[]") and not before.hidden
    page.get_by_text("What the public sees of this photo").click()
    page.get_by_text("Cover a part the blurring missed").wait_for(timeout=30_000)
    settle(page)
    page.get_by_role("button", name="Cover this area").click()
    page.get_by_text("Please fill in: Reason (staff only)").wait_for(timeout=30_000)
    with_reason("a neighbour's face at the window", "Cover this area")
    page.get_by_text("The area is covered on the public copy").wait_for(timeout=60_000)
    settle(page)
    covered = public_photo()
    # The default area, 40-60 % each way, of the stored 640 x 480 copy.
    assert covered.redactions == "[[256, 192, 384, 288]]", covered.redactions
    with urllib.request.urlopen(f"{stack.api}/api/v1/photos/{covered.public_digest}.jpg") as got:
        public = Image.open(io.BytesIO(got.read())).convert("RGB")
    assert max(public.getpixel((320, 240))) < 16  # the middle is covered
    assert public.getpixel((40, 40))[1] > 120  # the rest is the photo, green
    page.screenshot(path=str(ARTIFACTS / "case-moderation-en.png"), full_page=True)
    # The cover's reason went with it: the field is empty for the next step.
    assert page.get_by_label("Reason (staff only)").input_value() == ""
    # The same area again changes nothing, and the page says so rather than "covered".
    with_reason("the same face", "Cover this area")
    page.get_by_text("Nothing changed: the photo already was so").wait_for(timeout=60_000)
    settle(page)
    assert public_photo().redactions == covered.redactions
    # The cover, listed under the photo, comes off again: the public copy shows the middle.
    page.get_by_text("Cover 1: across 40-60 %, down 40-60 %").wait_for(timeout=30_000)
    with_reason("the cover hid the broken kerb itself", "Take this cover off")
    page.get_by_text("The cover is off; faces and plates the detector found").wait_for(
        timeout=60_000
    )
    settle(page)
    uncovered = public_photo()
    assert uncovered.redactions == "[]", uncovered.redactions
    # With no face, plate or cover on it, the public copy is the stored one.
    shown = uncovered.public_digest or uncovered.digest
    with urllib.request.urlopen(f"{stack.api}/api/v1/photos/{shown}.jpg") as got:
        public = Image.open(io.BytesIO(got.read())).convert("RGB")
    assert public.getpixel((320, 240))[1] > 120  # the middle is the photo again
    assert page.get_by_role("button", name="Take this cover off").count() == 0
    page.get_by_role("button", name="Hide from the public").click()
    page.get_by_text("Please fill in: Reason (staff only)").wait_for(timeout=30_000)
    assert not public_photo().hidden
    with_reason("shows the inside of a home", "Hide from the public")
    page.get_by_text("The photo is hidden from the public").wait_for(timeout=60_000)
    assert public_photo().hidden
    with pytest.raises(urllib.error.HTTPError) as gone:
        urllib.request.urlopen(f"{stack.api}/api/v1/photos/{shown}.jpg")
    assert gone.value.code == 404
    settle(page)
    assert "hidden from the public" in main_text(page)


@pytest.mark.slow
def test_staff_work_a_case_through_the_loop_in_chromium(stack: Stack, browser: Any) -> None:
    base = stack.dashboard
    ARTIFACTS.mkdir(exist_ok=True)
    outside: list[str] = []
    photo = ARTIFACTS / "after-photo.jpg"
    photo.write_bytes(after_photo())
    case_id = case_in_progress(stack.database)
    engine = make_engine(stack.database)
    with Session(engine) as session:
        department_name = session.get(Department, DEPARTMENT).name  # type: ignore[union-attr]
        other_names = {
            d.name for d in session.execute(select(Department)).scalars() if d.code != DEPARTMENT
        }

    page = guarded(browser.new_page(viewport=PHONE), outside)
    # Nobody signed in: the door, and nothing behind it.
    page.goto(f"{base}/queue?lang=en")
    page.get_by_text("Sign in as staff").wait_for(timeout=60_000)
    assert not page.locator("[data-testid='stTable'], [data-testid='stDataFrame']").count()

    # The department's clerk: their own queue, in both languages.
    sign_in(page, base, "clerk", next_path="/queue?lang=zh", lang="zh")
    page.locator("h1", has_text="工作队列").wait_for(timeout=60_000)
    settle(page)
    page.screenshot(path=str(ARTIFACTS / "queue-zh.png"))
    text = main_text(page)
    check_words(text, "queue zh")
    assert department_name in text and not any(n in text for n in other_names)
    assert "处置中" in text and "已超期" in text
    page.goto(f"{base}/queue?lang=en")
    page.locator("h1", has_text="Work queue").wait_for(timeout=60_000)
    settle(page)
    page.screenshot(path=str(ARTIFACTS / "queue-en.png"))
    text = main_text(page)
    check_words(text, "queue en")
    assert "In progress" in text and f"#{case_id} ·" in text  # worst first: it is on the page

    # Open the case from its card, upload the after-photo and report it handled.
    page.locator(f"a[href*='id={case_id}']").first.click()
    page.locator("h1", has_text=f"#{case_id}").wait_for(timeout=60_000)
    settle(page)
    check_words(main_text(page), "case before handling")
    take_step(
        page,
        "Report handled",
        {"Internal note (staff only)": "cleared the pavement; two bags taken away"},
        photo,
    )
    assert "Handled" in main_text(page)
    # The after-photo, once the media worker has made its stored copy, is on the page.
    for _ in range(12):
        if page.locator("[data-testid='stImage'] img").count():
            break
        page.wait_for_timeout(5000)
        page.reload()
        settle(page)
    page.screenshot(path=str(ARTIFACTS / "case-en.png"))
    check_words(main_text(page), "case en")
    page.goto(f"{base}/case?id={case_id}&lang=zh")
    page.locator("h1", has_text=f"#{case_id}").wait_for(timeout=60_000)
    settle(page)
    page.screenshot(path=str(ARTIFACTS / "case-zh.png"))
    check_words(main_text(page), "case zh")
    assert "处置完毕" in main_text(page)  # the step in the timeline, in words
    sign_out(page, base)

    # The supervisor checks it, the shift lead closes it: the same page, their own steps.
    sign_in(page, base, "inspector", next_path=f"/case?id={case_id}&lang=en")
    page.locator("h1", has_text=f"#{case_id}").wait_for(timeout=60_000)
    settle(page)
    take_step(page, "Check passed", {"Internal note (staff only)": "seen on site, done"})
    sign_out(page, base)
    sign_in(page, base, "lead", next_path=f"/case?id={case_id}&lang=en")
    page.locator("h1", has_text=f"#{case_id}").wait_for(timeout=60_000)
    settle(page)
    take_step(page, "Close", {})
    assert "Closed" in main_text(page)
    moderate_the_after_photo(page, stack, case_id)
    sign_out(page, base)
    page.goto(f"{base}/case?id={case_id}&lang=en")
    page.get_by_text("Sign in as staff").wait_for(timeout=60_000)  # the cookie is gone

    with Session(engine) as session:
        case = session.get(Case, case_id)
        assert case is not None and case.state == "CLOSED"
        steps = session.execute(
            select(CaseEvent.action, CaseEvent.actor)  # type: ignore[call-overload]
            .where(CaseEvent.case_id == case_id)
            .order_by(CaseEvent.id.desc())  # type: ignore[union-attr]
            .limit(6)
        ).all()
        assert [tuple(s) for s in reversed(steps)] == [
            ("handle", "clerk"),
            ("check_pass", "inspector"),
            ("close", "lead"),
            ("moderate", "lead"),  # the cover
            ("moderate", "lead"),  # the cover taken off
            ("moderate", "lead"),  # the takedown
        ]
        kinds = session.execute(
            select(Photo.kind).where(Photo.case_id == case_id)  # type: ignore[call-overload]
        ).scalars()
        assert "after" in set(kinds)
    engine.dispose()
    assert not outside, f"the dashboard reached outside this machine: {outside[:5]}"


@pytest.mark.slow
def test_every_page_in_chromium(stack: Stack, browser: Any) -> None:
    engine = make_engine(stack.database)
    with Session(engine) as session:
        names = {d.named("en") for d in session.execute(select(Department)).scalars()}
    engine.dispose()
    base = stack.dashboard
    ARTIFACTS.mkdir(exist_ok=True)
    outside: list[str] = []
    page = guarded(browser.new_page(viewport={"width": 1400, "height": 1000}), outside)
    # deck.gl reports a layer it could not start (a text layer given bad props) only here.
    deck_errors: list[str] = []
    page.on("console", lambda m: deck_errors.append(m.text) if "deck:" in m.text else None)
    sign_in(page, base, "lead", next_path="/?lang=en")
    for path, heading in PAGES.items():
        page.goto(f"{base}/{path}?lang=en&period={past_period()}")
        page.locator("h1", has_text=heading).first.wait_for(timeout=60_000)
        table = page.locator("[data-testid='stTable'] table").first
        table.wait_for(timeout=60_000)
        page.wait_for_timeout(1500)  # let charts and the map finish drawing
        page.screenshot(path=str(ARTIFACTS / f"dashboard-{path or 'overview'}.png"), full_page=True)
        cells = table.locator("tbody tr").first.locator("th, td").all_inner_texts()
        department = [c for c in cells if any(c.startswith(n) for n in names)]
        figures = [c for c in cells if re.fullmatch(r"[\d,.]+%?", c.strip())]
        assert department and figures, (path, cells)
        assert not page.locator("[data-testid='stException']").count(), path
    # The areas' names are written on the map, districts and then one district's streets.
    page.goto(f"{base}/map?lang=zh&period={past_period()}")
    page.locator("[data-testid='stDeckGlJsonChart'] canvas").first.wait_for(timeout=60_000)
    page.wait_for_timeout(2500)
    page.screenshot(path=str(ARTIFACTS / "dashboard-map-zh.png"), full_page=True)
    assert written_pixels(page) > 300, "no district names on the map"
    district = str(districts_of(stack.database)[0])
    page.goto(f"{base}/map?lang=zh&area={district}&period={past_period()}")
    page.get_by_text("街道", exact=False).first.wait_for(timeout=60_000)
    page.locator("[data-testid='stDeckGlJsonChart'] canvas").first.wait_for(timeout=60_000)
    page.wait_for_timeout(2500)
    page.screenshot(path=str(ARTIFACTS / "dashboard-map-streets-zh.png"), full_page=True)
    assert written_pixels(page) > 300, "no street names on the map"
    assert not deck_errors, deck_errors[:3]
    # The same overview in Chinese, the labels most heads read (Noto CJK draws them).
    page.goto(f"{base}/?lang=zh&period={past_period()}")
    page.locator("h1", has_text="总览").first.wait_for(timeout=60_000)
    page.locator("[data-testid='stTable'] table").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(ARTIFACTS / "dashboard-overview-zh.png"), full_page=True)
    assert not page.locator("[data-testid='stException']").count(), "overview in Chinese"
    assert not outside, f"the dashboard reached outside this machine: {outside[:5]}"
