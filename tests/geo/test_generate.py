from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo.crs import local_origin, to_local_metres
from geo.generate import GridGenerationError, base_cells, communities, lattice_steps, subdivide
from geo.layer import Layer
from geo.validate import validate_grid
from tests.geo.conftest import layer

BOUNDS = (121.40, 31.20, 121.43, 31.23)


def street(geom: shapely.Polygon | None = None) -> Layer:
    return layer(
        2, ["310101002"], [geom if geom is not None else shapely.box(*BOUNDS)], names=["外滩街道"]
    )


def area_m2(geoms: np.ndarray) -> np.ndarray:
    return np.asarray(shapely.area(to_local_metres(geoms, local_origin(geoms))))


def test_subdivide_tiles_a_concave_polygon_exactly() -> None:
    ell = shapely.union(
        shapely.box(121.40, 31.20, 121.43, 31.21), shapely.box(121.40, 31.20, 121.41, 31.23)
    )
    pieces = subdivide(ell, 12, seed=5)
    assert 10 <= len(pieces) <= 12
    union = shapely.union_all(pieces)
    assert shapely.symmetric_difference(union, ell).area < 1e-12
    assert sum(p.area for p in pieces) == pytest.approx(ell.area, rel=1e-9)
    assert all(shapely.covers(ell, p) or shapely.difference(p, ell).area < 1e-15 for p in pieces)


def test_communities_count_codes_and_nesting() -> None:
    s = street()
    comms = communities(s, target_area_m2=250_000)
    expected = round(float(area_m2(s.geoms)[0]) / 250_000)
    assert abs(len(comms) - expected) <= 1
    assert comms.codes == [f"310101002{i:03d}" for i in range(1, len(comms) + 1)]
    assert set(comms.parents) == {"310101002"}
    grid = {1: layer(1, ["310101"], [s.geoms[0]]), 2: s, 3: comms}
    assert validate_grid(grid) == []


def test_communities_are_deterministic_and_seeded() -> None:
    a = communities(street(), seed=1)
    b = communities(street(), seed=1)
    c = communities(street(), seed=2)
    assert a.codes == b.codes
    assert all(x.equals_exact(y, tolerance=0) for x, y in zip(a.geoms, b.geoms, strict=True))
    assert not all(x.equals(y) for x, y in zip(a.geoms, c.geoms, strict=False))


def test_communities_are_numbered_north_to_south() -> None:
    comms = communities(street(), target_area_m2=500_000)
    y = shapely.get_y(shapely.centroid(comms.geoms))
    # Rows are bands of ~one community: the first code is in the top band, the last in the bottom.
    band = np.sqrt(500_000) / 111_195
    assert y[0] > y.max() - 1.5 * band
    assert y[-1] < y.min() + 1.5 * band


def test_small_street_is_one_community_and_sizes_are_capped() -> None:
    tiny = street(shapely.box(121.400, 31.200, 121.401, 31.201))
    assert len(communities(tiny)) == 1
    with pytest.raises(ValueError, match="target_area_m2 must be positive"):
        communities(street(), target_area_m2=0)
    with pytest.raises(ValueError, match="under level 2"):
        communities(layer(1, ["310101"], [shapely.box(*BOUNDS)]))


def community(geom: shapely.Polygon, code: str = "310101002001") -> Layer:
    return layer(3, [code], [geom], names=["社区"])


def test_cells_are_numbered_west_to_east_north_to_south() -> None:
    dlon, dlat = lattice_steps(BOUNDS, 100.0)
    i = int(121.40 / dlon)
    j = int(31.20 / dlat)
    square = shapely.box(i * dlon, j * dlat, (i + 3) * dlon, (j + 3) * dlat)
    cells = base_cells(community(square))
    assert len(cells) == 9
    c = shapely.centroid(cells.geoms)
    x, y = shapely.get_x(c), shapely.get_y(c)
    assert cells.codes[0].endswith("001") and cells.codes[-1].endswith("009")
    order = np.lexsort((x.round(9), -y.round(9)))
    assert order.tolist() == list(range(9))
    assert all(g.geom_type == "Polygon" and len(g.exterior.coords) == 5 for g in cells.geoms)


def test_cells_tile_the_parent_and_share_the_lattice_with_neighbours() -> None:
    west = shapely.Polygon(
        [(121.400, 31.200), (121.410, 31.200), (121.406, 31.212), (121.401, 31.209)]
    )
    east = shapely.Polygon(
        [(121.410, 31.200), (121.418, 31.203), (121.414, 31.211), (121.406, 31.212)]
    )
    parent = layer(3, ["310101002001", "310101002002"], [west, east], names=["西", "东"])
    cells = base_cells(parent, cell_size_m=100.0)
    for k, geom in enumerate((west, east)):
        mine = cells.geoms[[p == parent.codes[k] for p in cells.parents]]
        assert shapely.symmetric_difference(shapely.union_all(mine), geom).area < 1e-14
        assert sum(g.area for g in mine) == pytest.approx(geom.area, rel=1e-9)
    # Whole cells of either community have corners on one lattice.
    dlon, dlat = lattice_steps(cells.bounds(), 100.0)
    xy = shapely.get_coordinates(cells.geoms)
    on_lattice = np.isclose(xy[:, 0] / dlon, np.round(xy[:, 0] / dlon), atol=1e-6) & np.isclose(
        xy[:, 1] / dlat, np.round(xy[:, 1] / dlat), atol=1e-6
    )
    assert on_lattice.mean() > 0.5
    grid = {
        1: layer(1, ["310101"], [shapely.union(west, east)]),
        2: layer(2, ["310101002"], [shapely.union(west, east)]),
        3: parent,
        4: cells,
    }
    assert validate_grid(grid) == []


def test_cells_are_about_the_requested_size() -> None:
    cells = base_cells(community(shapely.box(121.40, 31.20, 121.41, 31.21)), cell_size_m=100.0)
    areas = area_m2(cells.geoms)
    assert np.median(areas) == pytest.approx(10_000, rel=0.02)


def test_too_many_cells_suggests_a_larger_size() -> None:
    big = community(shapely.box(121.40, 31.20, 121.45, 31.25))  # ~4.7 km x 5.6 km
    with pytest.raises(
        GridGenerationError, match=r"more than 999 cells of 100 m .*at least ~1\d\d m"
    ):
        base_cells(big, cell_size_m=100.0)
    assert len(base_cells(big, cell_size_m=200.0)) <= 999


def test_lattice_is_shared_by_any_part_of_a_city() -> None:
    assert lattice_steps((121.0, 30.7, 122.0, 31.4), 100) == lattice_steps(
        (121.4, 31.2, 121.5, 31.3), 100
    )
