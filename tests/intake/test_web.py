"""The residents' page in headless Chromium: report with a photo, land on the tracking page.

Runs against real processes of the embedded default (API and worker), so the case on the
tracking page is routed and its photo processed by the worker, as a resident would see it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from geo.layer import Grid
from tests.intake.helpers import api_process, jpeg
from tests.intake.test_tracking import _free_point
from tests.processes import urbangrid_process
from tests.services import services_required

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        if services_required():
            pytest.fail(f"{CHROMIUM} is required in CI (infra/browser.sh installs it)")
        pytest.skip(f"{CHROMIUM} not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield launched
        launched.close()


def test_report_with_a_photo_then_follow_it(
    browser: object, sqlite_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    lon, lat = _free_point(sqlite_url, demo_grid, "E0505", seed=701)
    photo = tmp_path / "IMG_2041.jpg"
    photo.write_bytes(jpeg((1600, 1200), gps=(lat, lon)))
    values = {
        "URBANGRID_DATABASE_URL": sqlite_url,
        "URBANGRID_VAR_DIR": str(tmp_path / "var"),
        "URBANGRID_RELAY_INTERVAL_S": "1",
    }
    with (
        api_process(values, tmp_path / "api.log") as base,
        urbangrid_process(["worker"], values, tmp_path / "worker.log"),
    ):
        context = browser.new_context(
            locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True
        )
        page = context.new_page()
        page.set_default_timeout(30_000)
        # Everything the page loads must come from the API itself: no tiles, no CDN.
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(base + "/")
        expect(page.locator("h1").first).to_have_text("报告一个街面问题")
        expect(page.locator("#category option[value=E0505]")).to_have_count(1)
        expect(page.locator("#map path").first).to_be_attached()

        # Tapping the map places the pin and fills the coordinates…
        page.locator("#map").click()
        assert re.fullmatch(r"3\d\.\d{6}", page.input_value("#lat"))
        # …but this resident relies on the photo's own GPS position.
        page.fill("#lat", "")
        page.fill("#lon", "")
        page.set_input_files("#photos", str(photo))
        expect(page.locator("#previews img")).to_have_count(1)
        page.select_option("#category", "E0505")
        page.fill("#description", "电动车挡住了盲道 car parked on the tactile paving")
        page.fill("#contact", "13800001111")
        page.click("#submit")

        page.wait_for_url(re.compile(r".*#/t/[A-Za-z0-9_-]{32}$"))
        case_number = page.locator("#t-id")
        expect(case_number).to_have_text(re.compile(r"^#\d+$"))
        expect(page.locator("#t-category")).to_have_text("机动车乱停放")
        # The worker routes the report and processes its photo; the page follows by itself.
        expect(page.locator("#t-status")).to_have_text("已派遣至责任部门", timeout=60_000)
        expect(page.locator("#t-department")).to_contain_text("公安交警")
        expect(page.locator("#t-photos [data-kind=before] img")).to_have_count(1, timeout=60_000)
        expect(page.locator("#t-photos h3")).to_have_text(["上报时"])
        thumb = page.locator("#t-photos img").first.get_attribute("src") or ""
        assert thumb.startswith("/api/v1/photos/") and thumb.endswith("/thumb.jpg")
        assert "13800001111" not in page.content()

        # The same page in English, and the report remembered on the form page.
        page.click("#lang")
        expect(page.locator("#t-status")).to_have_text("Sent to the responsible department")
        expect(page.locator("#t-photos h3")).to_have_text(["As reported"])
        page.screenshot(path=str(tmp_path / "track-en.png"), full_page=True)
        expect(page.locator("#track-view h1")).to_contain_text("Case")
        page.click("a[href='#/']")
        expect(page.locator("#mine-list li")).to_have_count(1)
        expect(page.locator("#mine-list a")).to_have_text(
            re.compile(re.escape(case_number.text_content() or "?"))
        )
        context.close()
    assert requested and all(url.startswith((base, "blob:", "data:")) for url in requested), [
        url for url in requested if not url.startswith((base, "blob:", "data:"))
    ]
    assert "Traceback" not in (tmp_path / "api.log").read_text()


def test_a_busy_intake_is_sent_again_with_the_same_key(
    browser: object, sqlite_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    # A burst of large photos fills the intake's checks and it answers 503 with Retry-After,
    # keeping nothing: the page waits as told and sends the report again under the same key,
    # rather than leaving the resident an English error on a Chinese page.
    from playwright.sync_api import Browser, Route, expect

    assert isinstance(browser, Browser)
    lon, lat = _free_point(sqlite_url, demo_grid, "E0505", seed=702)
    photo = tmp_path / "IMG_2043.jpg"
    photo.write_bytes(jpeg((800, 600)))
    values = {"URBANGRID_DATABASE_URL": sqlite_url, "URBANGRID_VAR_DIR": str(tmp_path / "var")}
    keys: list[str | None] = []
    busy = {"left": 2}

    def intake(route: Route) -> None:
        keys.append(route.request.headers.get("idempotency-key"))
        if busy["left"]:
            busy["left"] -= 1
            route.fulfill(
                status=503,
                headers={"Retry-After": "1", "Content-Type": "application/json"},
                body='{"detail": "photo checks are busy; try again in 1 s"}',
            )
        else:
            route.continue_()

    with api_process(values, tmp_path / "api.log") as base:
        context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.route("**/api/v1/reports", intake)
        page.goto(base + "/")
        expect(page.locator("#category option[value=E0505]")).to_have_count(1)
        page.fill("#lat", f"{lat:.6f}")
        page.fill("#lon", f"{lon:.6f}")
        page.set_input_files("#photos", str(photo))
        page.select_option("#category", "E0505")
        page.click("#submit")
        expect(page.locator("#submit")).to_have_text("系统繁忙，正在重试…")
        page.wait_for_url(re.compile(r".*#/t/[A-Za-z0-9_-]{32}$"))
        expect(page.locator("#t-category")).to_have_text("机动车乱停放")
        context.close()
    assert len(keys) == 3 and keys[0] and len(set(keys)) == 1, keys
