from __future__ import annotations

from dataclasses import replace

import numpy as np
import shapely

from geo.layer import Grid
from geo.validate import Problem, validate_grid
from tests.geo.conftest import layer

D = 0.01  # about 950 m x 1110 m at 31 N


def grid_of(cells: list[shapely.Polygon], codes: list[str] | None = None) -> Grid:
    """A district and street 2D x 1D wide holding the given level 3 areas."""
    whole = shapely.box(121.40, 31.20, 121.40 + 2 * D, 31.20 + D)
    codes = codes or [f"310101001{i + 1:03d}" for i in range(len(cells))]
    return {
        1: layer(1, ["310101"], [whole]),
        2: layer(2, ["310101001"], [whole]),
        3: layer(3, codes, cells, parents=["310101001"] * len(cells)),
    }


WEST = shapely.box(121.40, 31.20, 121.40 + D, 31.20 + D)
EAST = shapely.box(121.40 + D, 31.20, 121.40 + 2 * D, 31.20 + D)


def kinds(problems: list[Problem]) -> list[tuple[str, tuple[str, ...]]]:
    return sorted((p.kind, p.codes) for p in problems)


def test_a_clean_grid_has_no_problems() -> None:
    assert validate_grid(grid_of([WEST, EAST])) == []


def test_child_spilling_outside_its_parent_is_named() -> None:
    spill = shapely.box(121.40 + D, 31.20, 121.40 + 2.1 * D, 31.20 + D)
    (p,) = [p for p in validate_grid(grid_of([WEST, spill])) if p.kind == "outside_parent"]
    assert p.level == 3 and p.codes == ("310101001002", "310101001")
    assert 100_000 < p.measure < 110_000  # 95 m x 1112 m
    assert "310101001002" in p.detail and "near (" in p.detail


def test_gap_names_the_parent_and_its_size() -> None:
    shrunk = shapely.box(121.40 + D, 31.20, 121.40 + 1.9 * D, 31.20 + D)
    problems = validate_grid(grid_of([WEST, shrunk]))
    assert kinds(problems) == [("gap", ("310101001",))]
    assert 100_000 < problems[0].measure < 110_000


def test_a_parent_with_no_children_is_one_big_gap() -> None:
    grid = grid_of([WEST, EAST])
    grid[2] = layer(
        2,
        ["310101001", "310101002"],
        [
            shapely.box(121.40, 31.20, 121.40 + 2 * D, 31.20 + D),
            shapely.box(121.5, 31.2, 121.51, 31.21),
        ],
    )
    grid[1] = layer(1, ["310101"], [shapely.union(grid[2].geoms[0], grid[2].geoms[1])])
    (p,) = validate_grid(grid)
    assert p.kind == "gap" and p.codes == ("310101002",) and "no children at all" in p.detail


def test_overlap_between_siblings_names_both() -> None:
    wide_west = shapely.box(121.40, 31.20, 121.40 + 1.2 * D, 31.20 + D)
    problems = validate_grid(grid_of([wide_west, EAST]))
    assert kinds(problems) == [("overlap", ("310101001001", "310101001002"))]
    assert "siblings" in problems[0].detail


def test_identical_twins_are_an_overlap_too() -> None:
    problems = validate_grid(
        grid_of([WEST, EAST, EAST], ["310101001001", "310101001002", "310101001003"])
    )
    assert ("overlap", ("310101001002", "310101001003")) in kinds(problems)


def test_duplicate_code_is_named() -> None:
    problems = validate_grid(grid_of([WEST, EAST], ["310101001001", "310101001001"]))
    assert kinds(problems) == [("duplicate_code", ("310101001001",))]
    assert problems[0].measure == 2


def test_code_not_prefixed_by_parent_and_wrong_length() -> None:
    grid = grid_of([WEST, EAST], ["310104001001", "3101010010"])
    found = kinds(validate_grid(grid))
    assert ("code_prefix", ("310104001001", "310101001")) in found
    assert ("code_format", ("3101010010",)) in found


def test_unknown_and_missing_parents() -> None:
    grid = grid_of([WEST, EAST])
    grid[3] = replace(grid[3], parents=["310101009", None])
    found = kinds(validate_grid(grid))
    assert ("unknown_parent", ("310101001001", "310101009")) in found
    assert ("missing_parent", ("310101001002",)) in found


def test_invalid_geometry_is_reported() -> None:
    bow = shapely.Polygon([(121.40, 31.20), (121.41, 31.21), (121.41, 31.20), (121.40, 31.21)])
    found = kinds(validate_grid(grid_of([bow, EAST])))
    assert ("invalid_geometry", ("310101001001",)) in found


def test_slivers_narrower_than_the_tolerance_are_noise() -> None:
    # A 0.5 m gap and a 0.5 m overlap along the whole 1.1 km edge: below 1 m, above 0.1 m.
    half_m = 0.5 / (111_195 * np.cos(np.radians(31.2)))
    west = shapely.box(121.40, 31.20, 121.40 + D - half_m, 31.20 + D)
    assert validate_grid(grid_of([west, EAST])) == []
    assert [p.kind for p in validate_grid(grid_of([west, EAST]), tolerance_m=0.1)] == ["gap"]
    west = shapely.box(121.40, 31.20, 121.40 + D + half_m, 31.20 + D)
    assert validate_grid(grid_of([west, EAST])) == []
    assert [p.kind for p in validate_grid(grid_of([west, EAST]), tolerance_m=0.1)] == ["overlap"]


def test_the_demo_city_nests_perfectly(demo_grid: Grid) -> None:
    assert validate_grid(demo_grid) == []
