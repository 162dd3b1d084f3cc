"""The index file: a mapped index answers exactly as the index built in the process does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.assign import Assignment, GridIndex, loop_assign
from geo.indexfile import FORMAT, IndexFileError, read_index, read_key, write_index
from geo.layer import Grid
from tests.geo.test_assign import random_city


def same(a: Assignment, b: Assignment) -> None:
    assert a.codes.keys() == b.codes.keys()
    for level in a.codes:
        assert a.codes[level].tolist() == b.codes[level].tolist(), level
    assert a.inside.tolist() == b.inside.tolist()
    assert a.leaf.tolist() == b.leaf.tolist()


def probe_points(grid: Grid, seed: int, n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points over (and beyond) the grid, plus points exactly on leaf vertices and on
    edge midpoints (shared edges, where the lowest-code rule decides), plus non-finite ones."""
    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = grid[1].bounds()
    w, h = xmax - xmin, ymax - ymin
    leaf = grid[max(grid)]
    vertices = shapely.get_coordinates(leaf.geoms)
    at = rng.integers(0, len(vertices) - 1, n // 3)
    mids = (vertices[at] + vertices[at + 1]) / 2
    x = np.concatenate(
        [
            rng.uniform(xmin - 0.2 * w, xmax + 0.2 * w, n),
            vertices[at, 0],
            mids[:, 0],
            [np.nan, np.inf, -np.inf, 0.0],
        ]
    )
    y = np.concatenate(
        [
            rng.uniform(ymin - 0.2 * h, ymax + 0.2 * h, n),
            vertices[at, 1],
            mids[:, 1],
            [ymin, ymin, np.nan, 0.0],
        ]
    )
    return x, y


def mapped(index: GridIndex, tmp_path: Path, key: str = "k") -> GridIndex:
    path = tmp_path / "grid.idx"
    write_index(index, path, key=key)
    return read_index(path, key=key)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), tile_m=st.sampled_from([None, 7.0, 45.0, 400.0]))
def test_mapped_index_answers_as_the_built_one(
    tmp_path_factory: pytest.TempPathFactory, seed: int, tile_m: float | None
) -> None:
    grid = random_city(seed)
    built = GridIndex.build(grid, tile_m=tile_m)
    files = mapped(built, tmp_path_factory.mktemp("idx"))
    x, y = probe_points(grid, seed)
    expected = built.assign(x, y)
    got = files.assign(x, y)
    same(got, expected)
    same(got, loop_assign(files, x, y))
    assert [files.leaf_of(float(a), float(b)) for a, b in zip(x, y, strict=True)] == (
        expected.leaf.tolist()
    )
    # The files' arrays are views of the file, not copies in the process.
    assert isinstance(files.raster, np.memmap)
    assert isinstance(files.leaf_wkb, np.memmap) or len(files.leaf_wkb) == 0


def test_shared_edges_vertices_and_outside_on_the_demo_city(
    demo_grid: Grid, tmp_path: Path
) -> None:
    built = GridIndex.build(demo_grid)
    files = mapped(built, tmp_path)
    x, y = probe_points(demo_grid, 5, n=20_000)
    expected = built.assign(x, y)
    same(files.assign(x, y), expected)
    # The probe reaches all the cases the rule has: inside, outside, and boundary tiles.
    assert 0 < expected.inside.mean() < 1
    assert len(np.unique(expected.leaf)) > 100
    assert files.names(2, expected.codes[2][:50].astype(str)).tolist() == (
        built.names(2, expected.codes[2][:50].astype(str)).tolist()
    )


def test_point_on_a_shared_edge_goes_to_the_lowest_code(two_by_two: Grid, tmp_path: Path) -> None:
    files = mapped(GridIndex.build(two_by_two), tmp_path)
    x0, y0, d = 121.40, 31.20, 0.01
    a = files.assign(
        [x0 + d, x0 + d, x0 + 0.5 * d, x0 + d], [y0 + 1.5 * d, y0 + 0.5 * d, y0 + d, y0 + d]
    )
    assert a.codes[4].tolist() == [
        "310101001001001",
        "310101001001003",
        "310101001001001",
        "310101001001001",
    ]


def test_non_rectangular_leaves_are_tested_on_their_decoded_shape(tmp_path: Path) -> None:
    from tests.geo.conftest import layer

    # Two triangles sharing the diagonal of a square: neither is a rectangle.
    lower = shapely.Polygon([(0, 0), (1, 0), (1, 1)])
    upper = shapely.Polygon([(0, 0), (1, 1), (0, 1)])
    grid = {1: layer(1, ["310102", "310101"], [lower, upper])}
    built = GridIndex.build(grid)
    files = mapped(built, tmp_path)
    assert not files.leaf_rect.any() and len(files.leaf_wkb) > 0
    a = files.assign([0.5, 0.75, 0.25, 1.5], [0.5, 0.25, 0.75, 0.5])
    assert a.codes[1].tolist() == ["310101", "310102", "310101", ""]  # diagonal: lower code
    assert shapely.equals(files.leaf_geometries([1])[0], lower)


def test_a_file_for_another_key_or_format_is_refused(two_by_two: Grid, tmp_path: Path) -> None:
    path = tmp_path / "grid.idx"
    write_index(GridIndex.build(two_by_two), path, key="v1|a")
    assert read_key(path) == "v1|a"
    with pytest.raises(IndexFileError, match="built for"):
        read_index(path, key="v2|b")
    raw = path.read_bytes()
    path.write_bytes(raw.replace(f'"format": {FORMAT}'.encode(), b'"format": 9', 1))
    assert read_key(path) is None
    with pytest.raises(IndexFileError, match="format"):
        read_index(path)


def test_missing_and_truncated_files_are_refused(two_by_two: Grid, tmp_path: Path) -> None:
    path = tmp_path / "grid.idx"
    assert read_key(path) is None
    with pytest.raises(IndexFileError, match="does not exist"):
        read_index(path)
    write_index(GridIndex.build(two_by_two), path, key="k")
    path.write_bytes(path.read_bytes()[:-64])
    with pytest.raises(IndexFileError, match="truncated"):
        read_index(path)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(IndexFileError, match="truncated"):
        read_index(path)
    path.write_bytes(b"not an index")
    with pytest.raises(IndexFileError, match="not a grid index"):
        read_index(path)
