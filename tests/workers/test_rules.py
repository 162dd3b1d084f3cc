"""Routing rules from a file, returns and re-dispatch, the ping-pong flag, re-routing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from geo.layer import Grid
from tests.staffing import (  # noqa: F401 (the settings and client fixtures)
    act,
    auth,
    case_row,
    report_and_route,
    staff_client,
    staff_settings,
    staff_token,
)
from urbangrid.commands.main import main
from urbangrid.core.db import dispose_engines, make_engine
from urbangrid.core.settings import Settings, get_settings
from urbangrid.core.tables import RoutingRule


@pytest.fixture(scope="module")
def engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


def test_returns_go_back_to_dispatch_and_three_flag_ping_pong(
    client: TestClient, engine: Engine, settings: Settings, demo_grid: Grid
) -> None:
    case_id = report_and_route(client, engine, settings, demo_grid, category="E0102", cell=40)
    case = case_row(engine, case_id)
    district_bureau = f"sanitation-{case.l1_code}"
    assert case.department_code == district_bureau
    dispatcher = staff_token(engine, "dispatcher", "city")
    lead = staff_token(engine, "shift_lead", "city")
    tokens = {}

    def department(code: str) -> str:
        if code not in tokens:
            tokens[code] = staff_token(engine, "department", f"department:{code}")
        return tokens[code]

    missing = client.post(
        f"/api/v1/cases/{case_id}/actions/return",
        json={},
        headers=auth(department(district_bureau)),
    )
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"][-1] == "reason"
    returned = act(client, department(district_bureau), case_id, "return", reason="county road")
    assert returned["state"] == "RETURNED" and returned["stage"] == "dispatch"
    # The rule table's next body in line: the city-wide sanitation department.
    assert returned["suggestion"]["department"] == "sanitation"
    seen = client.get(f"/api/v1/cases/{case_id}", headers=auth(dispatcher)).json()
    assert seen["suggestion"] == {
        "department": "sanitation",
        "rule_id": seen["suggestion"]["rule_id"],
        "scope": "",
        "returned_by": [district_bureau],
    }
    redone = act(client, dispatcher, case_id, "redispatch")
    assert redone["department"] == "sanitation" and redone["flag"] is None
    act(client, department("sanitation"), case_id, "accept")
    act(client, department("sanitation"), case_id, "return", reason="district bureau's street")
    office = f"so-{case.l2_code}"
    assert (
        client.get(f"/api/v1/cases/{case_id}", headers=auth(dispatcher)).json()["suggestion"][
            "department"
        ]
        == office
    )
    act(client, dispatcher, case_id, "redispatch", department=district_bureau)
    flagged = act(client, department(district_bureau), case_id, "return", reason="still not ours")
    assert flagged["return_count"] == 3 and flagged["flag"] == "ping_pong"
    assert flagged["timeline"][-1]["action"] == "flag"
    assert flagged["timeline"][-1]["detail"]["returned_by"] == [
        district_bureau,
        "sanitation",
        district_bureau,
    ]
    queue = client.get("/api/v1/cases", params={"flag": "ping_pong"}, headers=auth(lead)).json()
    assert case_id in {item["id"] for item in queue["items"]}
    # The shift lead settles it: the return is refused, the department's clock runs on.
    settled = act(client, lead, case_id, "reject_return", reason="on your road; handle it")
    assert settled["state"] == "IN_PROGRESS" and settled["department"] == district_bureau


def test_a_new_category_re_routes_a_dispatched_case(
    client: TestClient, engine: Engine, settings: Settings, demo_grid: Grid
) -> None:
    case_id = report_and_route(client, engine, settings, demo_grid, category="E0102", cell=41)
    operator = staff_token(engine, "operator", "city")
    before = case_row(engine, case_id)
    changed = act(client, operator, case_id, "recategorize", category="E0505", note="a car")
    assert changed["category"] == "E0505"
    assert changed["department"] == "traffic_police" and changed["state"] == "DISPATCHED"
    reroute = changed["timeline"][-1]
    assert reroute["action"] == "reroute" and reroute["role"] == "system"
    assert reroute["detail"]["previous_department"] == before.department_code
    assert reroute["detail"]["rule_id"] is not None
    handle_clocks = [c for c in changed["clocks"] if c["stage"] == "handle"]
    assert [c["limit"] for c in handle_clocks] == ["4wh", "2wh"]
    assert handle_clocks[0]["stopped_at"] is not None and handle_clocks[1]["stopped_at"] is None


def test_rules_load_replaces_the_table_and_refuses_bad_entries(
    sqlite_url: str,
    engine: Engine,
    tmp_path: Path,
    demo_grid: Grid,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("URBANGRID_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("URBANGRID_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        dumped = runner.invoke(main, ["rules", "dump"])
        assert dumped.exit_code == 0, dumped.output
        original = yaml.safe_load(dumped.output)
        district = demo_grid[1].codes[0]
        street = demo_grid[2].codes[0]
        document = {
            "departments": [
                {"code": f"parking-{street}", "name": "街道停车管理", "kind": "traffic_police"}
            ],
            "rules": [
                *original["rules"],
                {"category": "E0505", "scope": street, "department": f"parking-{street}"},
            ],
        }
        good = tmp_path / "rules.yaml"
        good.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
        loaded = runner.invoke(main, ["rules", "load", str(good)])
        assert loaded.exit_code == 0, loaded.output
        with Session(engine) as session:
            rows = session.exec(select(RoutingRule).where(RoutingRule.category_code == "E0505"))
            assert {(r.scope_code, r.department_code) for r in rows} == {
                ("", "traffic_police"),
                (street, f"parking-{street}"),
            }
        bad = tmp_path / "bad.yaml"
        bad.write_text(
            yaml.safe_dump(
                {"rules": [{"category": "E0505", "scope": district, "department": "x"}]}
            ),
            encoding="utf-8",
        )
        refused = runner.invoke(main, ["rules", "load", str(bad)])
        assert (
            refused.exit_code == 1
            and "rules[0].department: unknown department 'x'" in refused.output
        )
        with Session(engine) as session:  # nothing changed by the refused file
            assert len(session.exec(select(RoutingRule)).all()) == len(document["rules"])
        restore = tmp_path / "original.yaml"
        restore.write_text(dumped.output, encoding="utf-8")
        assert runner.invoke(main, ["rules", "load", str(restore)]).exit_code == 0
    finally:
        get_settings.cache_clear()
        dispose_engines()
