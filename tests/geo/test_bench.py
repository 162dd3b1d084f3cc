"""The geo benchmark's bookkeeping and its PostGIS comparison (figures come from `make bench`)."""

from __future__ import annotations

import numpy as np
import pytest

from geo.assign import GridIndex
from geo.bench import postgis_assign, run_geo_bench
from geo.layer import Grid


def test_bench_reports_the_figures(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_geo_bench(30_000)
    assert result["identical"] is True
    assert result["postgis_points_per_s"] is None
    # The figures are printed, not judged: speed is the benchmark's business (`make bench`).
    assert result["points_per_s"] > 0 and result["loop_points_per_s"] > 0
    out = capsys.readouterr().out
    assert "points/s" in out and "speedup" in out


@pytest.mark.postgres
def test_postgis_st_covers_gives_the_same_cells(demo_grid: Grid) -> None:
    from sqlalchemy import create_engine

    from tests.services import postgres_database

    index = GridIndex.build(demo_grid)
    xmin, ymin, xmax, ymax = demo_grid[1].bounds()
    rng = np.random.default_rng(5)
    x = rng.uniform(xmin, xmax, 3000)
    y = rng.uniform(ymin, ymax, 3000)
    # Include points on shared vertices, where the lowest code must win in SQL too.
    corners = np.unique(np.round(np.concatenate([index.leaf_bounds[:200, :2]]), 12), axis=0)
    x = np.concatenate([x, corners[:, 0]])
    y = np.concatenate([y, corners[:, 1]])
    with postgres_database() as url:
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                codes, rate = postgis_assign(conn, index, x, y)
        finally:
            engine.dispose()
    assert rate > 0
    assert np.array_equal(codes, index.assign(x, y).codes[index.leaf_level])
