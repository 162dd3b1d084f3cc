"""The running dashboard in headless Chromium: every page loads, shows its title and a
department's figures, and asks nothing of the internet. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
import socket
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import Session

from tests.dashboard.test_pages import past_period
from tests.processes import ROOT, urbangrid_process, wait_until
from tests.services import services_required
from urbangrid.core.db import make_engine
from urbangrid.core.tables import Department

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
PAGES = {
    "": "Overview",
    "departments": "Departments",
    "map": "Map",
    "categories": "Categories",
    "queue": "Work queue",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


@pytest.mark.slow
def test_every_page_in_chromium(season_url: str, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        if services_required():
            pytest.fail("Chromium is required in CI", pytrace=False)
        pytest.skip("no Chromium at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    engine = make_engine(season_url)
    with Session(engine) as session:
        names = set(session.execute(select(Department.name)).scalars())
    engine.dispose()

    port = free_port()
    env = {
        "URBANGRID_DATABASE_URL": season_url,
        "URBANGRID_VAR_DIR": str(tmp_path / "var"),
        "URBANGRID_DASHBOARD_PORT": str(port),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    log = tmp_path / "dashboard.log"
    outside: list[str] = []
    with urbangrid_process(["dashboard"], env, log):
        base = f"http://127.0.0.1:{port}"
        assert wait_until(lambda: answers(f"{base}/_stcore/health"), 90, 0.5), log.read_text()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM),
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--no-first-run",
                ],
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})

            def guard(route: object) -> None:
                request = route.request  # type: ignore[attr-defined]
                if re.match(r"^(https?|wss?)://(127\.0\.0\.1|localhost)[:/]", request.url) or (
                    request.url.startswith(("data:", "blob:"))
                ):
                    route.continue_()  # type: ignore[attr-defined]
                else:
                    outside.append(request.url)
                    route.abort()  # type: ignore[attr-defined]

            page.route("**/*", guard)
            for path, heading in PAGES.items():
                page.goto(f"{base}/{path}?lang=en&period={past_period()}")
                page.locator("h1", has_text=heading).first.wait_for(timeout=60_000)
                table = page.locator("[data-testid='stTable'] table").first
                table.wait_for(timeout=60_000)
                page.wait_for_timeout(1500)  # let charts and the map finish drawing
                page.screenshot(
                    path=str(ARTIFACTS / f"dashboard-{path or 'overview'}.png"), full_page=True
                )
                cells = table.locator("tbody tr").first.locator("th, td").all_inner_texts()
                department = [c for c in cells if any(c.startswith(n) for n in names)]
                figures = [c for c in cells if re.fullmatch(r"[\d,.]+%?", c.strip())]
                assert department and figures, (path, cells)
                assert not page.locator("[data-testid='stException']").count(), path
            # The same overview in Chinese, the labels most heads read (Noto CJK draws them).
            page.goto(f"{base}/?lang=zh&period={past_period()}")
            page.locator("h1", has_text="总览").first.wait_for(timeout=60_000)
            page.locator("[data-testid='stTable'] table").first.wait_for(timeout=60_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(ARTIFACTS / "dashboard-overview-zh.png"), full_page=True)
            assert not page.locator("[data-testid='stException']").count(), "overview in Chinese"
            browser.close()
    assert not outside, f"the dashboard reached outside this machine: {outside[:5]}"
