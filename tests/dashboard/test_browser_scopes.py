"""In headless Chromium, staff whose scope is an area: a district's dispatcher follows a case
link through the sign-in, moves a report near a street's boundary to the neighbouring street
and sees the photos of a report that joined a case; a street's supervisor sees that street's
cases only. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session

from tests.dashboard.test_browser import (  # noqa: F401 (the fixtures)
    ARTIFACTS,
    PASSWORD,
    PHONE,
    Stack,
    browser,
    guarded,
    main_text,
    settle,
    sign_in,
    sign_out,
    stack,
    take_step,
)
from tests.dashboard.test_queue import flag_near_boundary, join_with_a_photo
from urbangrid.cases.staff import create_staff
from urbangrid.core.db import make_engine
from urbangrid.core.grids import active_version_id, area_names
from urbangrid.core.tables import Case
from urbangrid.domain.states import OPEN_STATES


@pytest.mark.slow
def test_a_case_link_grid_staff_and_a_boundary_report_in_chromium(
    stack: Stack,  # noqa: F811 (the fixture imported above)
    browser: Any,  # noqa: F811
) -> None:
    """A dispatcher of a district opens a case link before signing in and lands on the case
    after; finds a report near a street's boundary in the queue and moves it to the neighbour;
    sees the photo of a report that joined another case on that case's page. The neighbouring
    street's supervisor sees the moved report and only that street's cases."""
    base = stack.dashboard
    ARTIFACTS.mkdir(exist_ok=True)
    outside: list[str] = []
    case_id, street, neighbour = flag_near_boundary(stack.database)
    joined_case, report = join_with_a_photo(stack.api, stack.database, within=street[:6])
    engine = make_engine(stack.database)
    with Session(engine) as session:
        version = active_version_id(session)
        assert version is not None
        names = area_names(session, version, [street, neighbour])
        create_staff(
            session, "district-dispatcher", "dispatcher", f"grid:{street[:6]}", password=PASSWORD
        )
        # The supervisor of the street the report moves to: it holds at least that report (the
        # report's own street may hold no other open case).
        create_staff(
            session, "street-supervisor", "supervisor", f"grid:{neighbour}", password=PASSWORD
        )
        session.commit()
    page = guarded(browser.new_page(viewport=PHONE), outside)

    # A case link opened before signing in: the door, then the form, then the case itself.
    page.goto(f"{base}/case?id={case_id}&lang=en")
    page.get_by_text("Sign in as staff").wait_for(timeout=60_000)
    page.locator("[data-testid='stMain'] a", has_text="Staff sign-in").first.click()
    page.wait_for_url(re.compile(r"/staff/signin\?"), timeout=30_000)
    page.fill("#name", "district-dispatcher")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(rf"/case\?id={case_id}&lang=en$"), timeout=30_000)
    page.locator("h1", has_text=f"#{case_id}").wait_for(timeout=60_000)
    settle(page)

    # The queue shows the report near the boundary, naming the neighbouring street.
    page.goto(f"{base}/queue?lang=en")
    page.locator("h1", has_text="Work queue").wait_for(timeout=60_000)
    settle(page)
    page.locator(
        "[data-testid='stMain'] [data-testid='stRadio'] label", has_text="Near a boundary"
    ).click()
    settle(page)
    page.screenshot(path=str(ARTIFACTS / "queue-near-boundary-en.png"))
    text = main_text(page)
    assert f"#{case_id} ·" in text and f"may belong to {names[neighbour]}" in text, text[:1500]

    # Its page names both streets; moving it re-routes it to the neighbour's office.
    page.locator(f"a[href*='id={case_id}']").first.click()
    page.locator("h1", has_text=f"#{case_id}").wait_for(timeout=60_000)
    settle(page)
    assert names[street] in main_text(page) and names[neighbour] in main_text(page)
    page.screenshot(path=str(ARTIFACTS / "case-near-boundary-en.png"))
    take_step(
        page,
        f"Move to the neighbouring street ({names[neighbour]})",
        {"Internal note (staff only)": "the drain is on the far kerb"},
    )
    with Session(engine) as session:
        moved = session.get(Case, case_id)
        assert moved is not None and (moved.l2_code, moved.near_boundary) == (neighbour, None)
        assert moved.department_code == f"so-{neighbour}"
        in_street = set(
            session.execute(
                select(Case.id).where(  # type: ignore[call-overload]
                    Case.l2_code == neighbour,
                    Case.state.in_(sorted(OPEN_STATES)),  # type: ignore[attr-defined]
                )
            ).scalars()
        )

    # The case a resident's report joined shows that report's photo, once processed.
    page.goto(f"{base}/case?id={joined_case}&lang=en")
    page.locator("h1", has_text=f"#{joined_case}").wait_for(timeout=60_000)
    caption = f"From report #{report}, which joined this case"
    for _ in range(36):  # the media worker processes it (faces blurred) within minutes
        settle(page)
        if page.locator("[data-testid='stImage']", has_text=caption).count():
            break
        page.wait_for_timeout(5000)
        page.reload()
    image = page.locator("[data-testid='stImage']", has_text=caption).first
    image.wait_for(timeout=10_000)
    assert image.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
    # The photo as taken, fetched with the staff token and put in the page itself: no address
    # of Streamlit's media store serves it to someone not signed in.
    source = image.locator("img").get_attribute("src") or ""
    assert source.startswith("data:image/jpeg;base64,"), source[:80]
    page.screenshot(path=str(ARTIFACTS / "case-joined-photo-en.png"))
    sign_out(page, base)

    # A street's supervisor: the street's cases only, whatever the address asks for.
    sign_in(page, base, "street-supervisor", next_path="/queue?lang=zh", lang="zh")
    page.locator("h1", has_text="工作队列").wait_for(timeout=60_000)
    settle(page)
    # The cards come after the heading; on a loaded machine, seconds after it.
    page.get_by_text(re.compile(r"#\d+ ·")).first.wait_for(timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "queue-street-supervisor-zh.png"))
    shown = {int(found) for found in re.findall(r"#(\d+) ·", main_text(page))}
    assert case_id in shown and shown <= in_street, (shown - in_street, names[neighbour])
    assert names[neighbour] in main_text(page)
    engine.dispose()
    assert not outside, f"the dashboard reached outside this machine: {outside[:5]}"
