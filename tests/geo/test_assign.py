from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.assign import Assignment, GridIndex, loop_assign
from geo.generate import base_cells, communities, subdivide
from geo.layer import Grid
from tests.geo.conftest import layer

X0, Y0, D = 121.40, 31.20, 0.01


def same(a: Assignment, b: Assignment) -> bool:
    return all(np.array_equal(a.codes[k], b.codes[k]) for k in a.codes) and np.array_equal(
        a.inside, b.inside
    )


def check(index: GridIndex, x: np.ndarray, y: np.ndarray) -> Assignment:
    """Assign with the index, with the per-point loop and point by point as intake does (one
    report at a time, in plain Python); all three must agree exactly."""
    fast = index.assign(x, y)
    assert same(fast, loop_assign(index, x, y))
    one_by_one = [index.leaf_of(float(px), float(py)) for px, py in zip(x, y, strict=True)]
    assert one_by_one == fast.leaf.tolist()
    return fast


def test_point_on_a_shared_edge_goes_to_the_lowest_code(two_by_two: Grid) -> None:
    index = GridIndex.build(two_by_two)
    # One point on each of the four shared edges.
    x = np.array([X0 + D, X0 + D, X0 + 0.5 * D, X0 + 1.5 * D])
    y = np.array([Y0 + 1.5 * D, Y0 + 0.5 * D, Y0 + D, Y0 + D])
    a = check(index, x, y)
    assert a.codes[4].tolist() == [
        "310101001001001",  # NW (001) vs NE (002)
        "310101001001003",  # SW (003) vs SE (004)
        "310101001001001",  # NW (001) vs SW (003)
        "310101001001002",  # NE (002) vs SE (004)
    ]


def test_edge_rule_does_not_depend_on_which_side_is_west(two_by_two: Grid) -> None:
    # Renumber so the lower code is on the east side of the shared edge.
    cells = two_by_two[4]
    flipped = replace(cells, codes=[cells.codes[i] for i in (1, 0, 3, 2)])
    index = GridIndex.build({**two_by_two, 4: flipped})
    a = check(index, np.array([X0 + D]), np.array([Y0 + 1.5 * D]))
    assert a.codes[4].tolist() == ["310101001001001"]
    assert flipped.geoms[flipped.codes.index("310101001001001")].bounds[0] == X0 + D


def test_vertex_shared_by_four_cells(two_by_two: Grid) -> None:
    cells = two_by_two[4]
    for perm in ([0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]):
        shuffled = replace(cells, codes=[cells.codes[i] for i in perm])
        index = GridIndex.build({**two_by_two, 4: shuffled})
        a = check(index, np.array([X0 + D]), np.array([Y0 + D]))
        assert a.codes[4].tolist() == ["310101001001001"]
        assert a.codes[1].tolist() == ["310101"] and a.inside.tolist() == [True]


def test_outer_boundary_is_inside_and_beyond_is_outside(two_by_two: Grid) -> None:
    index = GridIndex.build(two_by_two)
    x = np.array([X0, X0 + 2 * D, X0 - 1e-9, X0 + 2 * D + 1e-9, 0.0, np.nan, np.inf])
    y = np.array([Y0, Y0 + 2 * D, Y0 + D, Y0 + D, 0.0, Y0, Y0])
    a = check(index, x, y)
    assert a.inside.tolist() == [True, True, False, False, False, False, False]
    assert a.codes[4][2:].tolist() == [""] * 5
    assert a.codes[1][2:].tolist() == [""] * 5
    assert a.leaf[2:].tolist() == [-1] * 5


def test_holes_and_islands() -> None:
    outer = shapely.box(X0, Y0, X0 + 3 * D, Y0 + 3 * D)
    hole = shapely.box(X0 + D, Y0 + D, X0 + 2 * D, Y0 + 2 * D)
    donut = shapely.difference(outer, hole)
    island = shapely.box(X0 + 1.25 * D, Y0 + 1.25 * D, X0 + 1.75 * D, Y0 + 1.75 * D)
    grid = {
        1: layer(1, ["310101"], [outer]),
        2: layer(2, ["310101001", "310101002"], [donut, island]),
    }
    index = GridIndex.build(grid)
    x = np.array([X0 + 0.5 * D, X0 + 1.5 * D, X0 + 1.1 * D, X0 + D, X0 + 1.25 * D])
    y = np.array([Y0 + 0.5 * D, Y0 + 1.5 * D, Y0 + 1.1 * D, Y0 + 1.5 * D, Y0 + 1.5 * D])
    a = check(index, x, y)
    assert a.codes[2].tolist() == [
        "310101001",  # in the ring
        "310101002",  # on the island
        "",  # in the hole, off the island: outside the service area
        "310101001",  # on the hole's edge: the donut covers it
        "310101002",  # on the island's edge
    ]


def test_overlapping_leaves_lowest_code_wins_inside_the_overlap() -> None:
    a_geom = shapely.box(X0, Y0, X0 + 2 * D, Y0 + D)
    b_geom = shapely.box(X0 + D, Y0, X0 + 3 * D, Y0 + D)
    grid = {
        1: layer(1, ["310101"], [shapely.union(a_geom, b_geom)]),
        2: layer(2, ["310101002", "310101001"], [a_geom, b_geom]),
    }
    index = GridIndex.build(grid)
    rng = np.random.default_rng(1)
    x = rng.uniform(X0, X0 + 3 * D, 5000)
    y = rng.uniform(Y0, Y0 + D, 5000)
    a = check(index, x, y)
    in_b = x >= X0 + D
    assert (a.codes[2][in_b] == "310101001").all()
    assert (a.codes[2][~in_b] == "310101002").all()


def test_upper_codes_come_from_the_leaf_chain_not_from_the_upper_polygons() -> None:
    west = shapely.box(X0, Y0, X0 + D, Y0 + D)
    east = shapely.box(X0 + D, Y0, X0 + 2 * D, Y0 + D)
    # A street of the west district that spills 30% into the east one (kept unclipped).
    spill = shapely.box(X0, Y0, X0 + 1.3 * D, Y0 + D)
    rest = shapely.box(X0 + 1.3 * D, Y0, X0 + 2 * D, Y0 + D)
    grid = {
        1: layer(1, ["310101", "310104"], [west, east]),
        2: layer(2, ["310101001", "310104001"], [spill, rest]),
    }
    a = check(GridIndex.build(grid), np.array([X0 + 1.2 * D]), np.array([Y0 + 0.5 * D]))
    assert a.codes[2].tolist() == ["310101001"]
    assert a.codes[1].tolist() == ["310101"]  # though the point lies in 310104's polygon


def test_build_refuses_grids_it_cannot_answer_for(two_by_two: Grid) -> None:
    cells = two_by_two[4]
    dup = replace(cells, codes=[cells.codes[0]] * 4)
    with pytest.raises(ValueError, match="duplicate leaf codes"):
        GridIndex.build({**two_by_two, 4: dup})
    orphan = replace(cells, parents=["310101001009"] * 4)
    with pytest.raises(ValueError, match=r"parents missing from level 3: \['310101001009'\]"):
        GridIndex.build({**two_by_two, 4: orphan})
    bow = shapely.Polygon([(X0, Y0), (X0 + D, Y0 + D), (X0 + D, Y0), (X0, Y0 + D)])
    bad = replace(cells, geoms=np.array([bow, *cells.geoms[1:]], dtype=object))
    with pytest.raises(ValueError, match="valid, non-empty polygons"):
        GridIndex.build({**two_by_two, 4: bad})
    with pytest.raises(ValueError, match="without a hole"):
        GridIndex.build({1: two_by_two[1], 3: two_by_two[3]})


def test_names_lookup(two_by_two: Grid) -> None:
    index = GridIndex.build(two_by_two)
    assert index.names(4, ["310101001001002", "", "999"]).tolist() == ["310101001001002", "", ""]


def random_city(seed: int) -> Grid:
    """A small irregular four-level grid: Voronoi districts/streets/communities, lattice cells."""
    rng = np.random.default_rng(seed)
    outline = shapely.Point(X0, Y0).buffer(0.02 + 0.01 * rng.random(), quad_segs=4)
    d_geoms = subdivide(outline, 3, seed=seed)
    districts = layer(1, [f"3101{i:02d}" for i in range(1, len(d_geoms) + 1)], d_geoms)
    s_codes: list[str] = []
    s_geoms: list[shapely.Polygon] = []
    for code, g in zip(districts.codes, districts.geoms, strict=True):
        parts = subdivide(g, 2, seed=seed, key=code)
        s_codes += [f"{code}{i:03d}" for i in range(1, len(parts) + 1)]
        s_geoms += parts
    streets = layer(2, s_codes, s_geoms)
    comms = communities(streets, target_area_m2=1_500_000, seed=seed)
    cells = base_cells(comms, cell_size_m=300.0)
    return {1: districts, 2: streets, 3: comms, 4: cells}


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), tile_m=st.sampled_from([None, 7.0, 45.0, 400.0]))
def test_vectorised_equals_loop_on_random_points(seed: int, tile_m: float | None) -> None:
    grid = random_city(seed)
    index = GridIndex.build(grid, tile_m=tile_m)
    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = grid[1].bounds()
    # Uniform points, plus points exactly on vertices and on edge midpoints, where rules bite.
    vertices = shapely.get_coordinates(grid[4].geoms)
    at = rng.integers(0, len(vertices) - 1, 400)
    pick = vertices[at]
    mids = (vertices[at] + vertices[at + 1]) / 2  # mostly on an edge (or across a ring seam)
    x = np.concatenate([rng.uniform(xmin, xmax, 1500), pick[:, 0], mids[:, 0]])
    y = np.concatenate([rng.uniform(ymin, ymax, 1500), pick[:, 1], mids[:, 1]])
    a = check(index, x, y)
    # Codes nest along every chain.
    inside = a.inside
    for level in (2, 3, 4):
        child = a.codes[level][inside].astype(str)
        parent = a.codes[level - 1][inside].astype(str)
        assert all(c.startswith(p) for c, p in zip(child, parent, strict=True))


def test_a_tiny_tile_budget_still_gives_exact_answers(demo_grid: Grid) -> None:
    index = GridIndex.build(demo_grid, max_tiles=50_000)
    assert index.tile_m > 50
    rng = np.random.default_rng(3)
    xmin, ymin, xmax, ymax = demo_grid[1].bounds()
    check(index, rng.uniform(xmin, xmax, 3000), rng.uniform(ymin, ymax, 3000))


def test_demo_city_vectorised_equals_loop(demo_grid: Grid) -> None:
    index = GridIndex.build(demo_grid)
    rng = np.random.default_rng(11)
    xmin, ymin, xmax, ymax = demo_grid[1].bounds()
    x = rng.uniform(xmin, xmax, 20_000)
    y = rng.uniform(ymin, ymax, 20_000)
    a = check(index, x, y)
    assert 0.6 < a.inside.mean() < 0.9
    assert index.impure_share < 0.2
