"""Benchmark point assignment on the demo city: vectorised index vs per-point loop vs PostGIS.

`urbangrid bench geo` runs `run_geo_bench`. The vectorised figure is the best of three runs over
all points; the loop (one STRtree query per point) is timed on a sample and reported as points per
second; both must give identical codes on that sample, or the benchmark fails rather than report
a speed for wrong answers. With a PostGIS URL, the same sample is assigned by `ST_Covers` in SQL
against the same cells (lowest code first), and checked the same way.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import shapely

from geo.assign import GridIndex, loop_assign
from geo.demo import demo_city

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["postgis_assign", "run_geo_bench"]

FloatArray = npt.NDArray[np.float64]

_SEED = 20260101
_LOOP_SAMPLE = 20_000
_POSTGIS_SAMPLE = 20_000


def postgis_assign(
    conn: Connection, index: GridIndex, x: FloatArray, y: FloatArray
) -> tuple[npt.NDArray[np.object_], float]:
    """Leaf codes of points by `ST_Covers` in PostGIS (lowest code wins), and points per second.

    Loads the index's leaf cells into a temporary table with a GIST index (same shape as
    `grid_area`: MultiPolygon, SRID 4326), so it needs no grid version stored and leaves nothing
    behind. Only the query is timed.
    """
    from sqlalchemy import text  # the only database code in this module; imported on use

    conn.execute(
        text(
            "CREATE TEMP TABLE bench_cell (code text PRIMARY KEY, "
            "geom geometry(MultiPolygon, 4326) NOT NULL) ON COMMIT DROP"
        )
    )
    multi = [
        g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]) for g in index.leaf_geoms
    ]
    rows = [
        {"code": str(code), "wkb": shapely.to_wkb(g, hex=True)}
        for code, g in zip(index.leaf_codes.tolist(), multi, strict=True)
    ]
    for start in range(0, len(rows), 5000):
        conn.execute(
            text(
                "INSERT INTO bench_cell (code, geom) "
                "VALUES (:code, ST_SetSRID(ST_GeomFromWKB(decode(:wkb, 'hex')), 4326))"
            ),
            rows[start : start + 5000],
        )
    conn.execute(text("CREATE INDEX ON bench_cell USING gist (geom)"))
    conn.execute(text("ANALYZE bench_cell"))
    query = text(
        "SELECT (SELECT c.code FROM bench_cell c "
        "        WHERE ST_Covers(c.geom, ST_SetSRID(ST_MakePoint(p.x, p.y), 4326)) "
        "        ORDER BY c.code LIMIT 1) "
        "FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS p(x, y, i) "
        "ORDER BY p.i"
    )
    started = time.perf_counter()
    found = conn.execute(query, {"xs": x.tolist(), "ys": y.tolist()}).scalars().all()
    elapsed = time.perf_counter() - started
    codes = np.asarray([c or "" for c in found], dtype=object)
    return codes, len(x) / elapsed


def run_geo_bench(n_points: int = 1_000_000, *, postgis_url: str | None = None) -> dict[str, Any]:
    """Time assignment over the demo city and print the figures; returns them as a dict.

    Keys: points_per_s, loop_points_per_s, postgis_points_per_s (None without `postgis_url`),
    speedup (vectorised / loop), plus build times, sizes and the sample checks.

    >>> result = run_geo_bench(20_000)  # doctest: +ELLIPSIS
    demo city: ...
    >>> result["identical"], result["speedup"] > 1
    (True, True)
    """
    if n_points < 1:
        raise ValueError(f"n_points must be positive, got {n_points}")
    started = time.perf_counter()
    grid = demo_city(_SEED)
    city_s = time.perf_counter() - started
    started = time.perf_counter()
    index = GridIndex.build(grid)
    index_s = time.perf_counter() - started

    xmin, ymin, xmax, ymax = grid[1].bounds()
    rng = np.random.default_rng(_SEED)
    x = rng.uniform(xmin, xmax, n_points)
    y = rng.uniform(ymin, ymax, n_points)

    index.assign(x[:1000], y[:1000])  # warm caches
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        fast = index.assign(x, y)
        best = min(best, time.perf_counter() - started)
    points_per_s = n_points / best

    m = min(_LOOP_SAMPLE, n_points)
    started = time.perf_counter()
    slow = loop_assign(index, x[:m], y[:m])
    loop_points_per_s = m / (time.perf_counter() - started)
    identical = all(np.array_equal(fast.codes[lvl][:m], slow.codes[lvl]) for lvl in index.levels)
    if not identical:
        raise AssertionError("vectorised and per-point assignment disagree on the sample")

    postgis_points_per_s: float | None = None
    postgis_identical: bool | None = None
    if postgis_url is not None:
        from sqlalchemy import create_engine

        engine = create_engine(postgis_url)
        try:
            with engine.begin() as conn:
                k = min(_POSTGIS_SAMPLE, n_points)
                codes, postgis_points_per_s = postgis_assign(conn, index, x[:k], y[:k])
                postgis_identical = bool(np.array_equal(codes, fast.codes[index.leaf_level][:k]))
        finally:
            engine.dispose()
        if not postgis_identical:
            raise AssertionError("PostGIS ST_Covers and the index disagree on the sample")

    result: dict[str, Any] = {
        "n_points": n_points,
        "cells": len(grid[index.leaf_level]),
        "city_build_s": city_s,
        "index_build_s": index_s,
        "tile_m": index.tile_m,
        "impure_share": index.impure_share,
        "inside_share": float(fast.inside.mean()),
        "points_per_s": points_per_s,
        "loop_points_per_s": loop_points_per_s,
        "postgis_points_per_s": postgis_points_per_s,
        "speedup": points_per_s / loop_points_per_s,
        "identical": identical,
        "postgis_identical": postgis_identical,
    }
    sizes = ", ".join(f"L{lvl} {len(grid[lvl]):,}" for lvl in sorted(grid))
    print(f"demo city: {sizes}; built in {city_s:.2f} s, index in {index_s:.2f} s")
    print(
        f"vectorised: {points_per_s:,.0f} points/s over {n_points:,} points "
        f"({fast.inside.mean():.1%} inside)"
    )
    print(f"per-point loop: {loop_points_per_s:,.0f} points/s on {m:,} points (same codes)")
    if postgis_points_per_s is not None:
        print(f"PostGIS ST_Covers: {postgis_points_per_s:,.0f} points/s (same codes)")
    print(f"speedup over the loop: {result['speedup']:.1f}x")
    return result
