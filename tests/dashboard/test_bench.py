"""A small run of ``urbangrid bench dashboard``'s code: it seeds, times and reports every figure.

The benchmark itself (a million cases) is ``make bench``; here only that it works end to end.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text

from tests.services import PG_ADMIN_URL, unavailable
from urbangrid.commands.bench_dashboard import run_dashboard_bench
from urbangrid.evaluation.scope import Dimension


@pytest.mark.postgres
@pytest.mark.slow
def test_bench_runs_small_and_reports_every_figure() -> None:
    admin = create_engine(PG_ADMIN_URL)
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        unavailable(f"PostgreSQL at {PG_ADMIN_URL} ({exc.__class__.__name__})")
    finally:
        admin.dispose()
    said: list[str] = []
    result = run_dashboard_bench(PG_ADMIN_URL, cases=1500, days=60, repeat=1, say=said.append)
    json.dumps(result)
    names = [t["name"] for t in result["timings"]]
    assert names[0].startswith("bare GROUP BY") and result["baseline_ms"] > 0
    for dimension in Dimension:
        assert any(f"per {dimension} " in name for name in names), dimension
    assert any(name.startswith("each stage per role") for name in names)
    assert "bare GROUP BY base cell (all cases)" in names
    assert any("stage clocks derived" in line for line in said)
    pages = {t["name"] for t in result["timings"] if t["kind"] == "page"}
    assert {"Overview", "Categories", "Work queue (city)", "Map: districts"} <= pages
    refreshes = [t["name"] for t in result["timings"] if t["kind"] == "refresh"]
    assert [name.split(" (")[0] for name in refreshes] == ["full build", "incremental refresh"]
    assert all(t["ms"] > 0 for t in result["timings"])
    assert any("1,500 cases" in line for line in said)
    admin = create_engine(PG_ADMIN_URL)
    with admin.connect() as conn:
        left = conn.execute(
            text("SELECT count(*) FROM pg_database WHERE datname = :name"),
            {"name": result["database"]},
        ).scalar_one()
    admin.dispose()
    assert left == 0, "the scratch database is dropped"
