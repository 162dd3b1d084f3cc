"""Grid levels as plain data: one `Layer` per level, a `Grid` maps level to layer.

A layer is a set of parallel lists (codes, names, parent codes, geometries), one entry per area.
An area may be a MultiPolygon: a street in two parts is one area with one code.
Geometries are always WGS84 longitude/latitude (EPSG:4326); converting is the importer's job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely

__all__ = ["LEVEL_DIGITS", "LEVEL_NAMES", "Grid", "Layer", "code_length", "leaf_level"]

#: Digits each level adds to the code: district 6 (GB/T 2260), street 3, community 3, cell 3.
LEVEL_DIGITS: tuple[int, int, int, int] = (6, 3, 3, 3)

LEVEL_NAMES: dict[int, str] = {1: "district", 2: "street", 3: "community", 4: "cell"}


def code_length(level: int) -> int:
    """Total number of digits of a code at `level` (6, 9, 12, 15).

    >>> [code_length(level) for level in (1, 2, 3, 4)]
    [6, 9, 12, 15]
    """
    if not 1 <= level <= len(LEVEL_DIGITS):
        raise ValueError(f"grid level must be 1..{len(LEVEL_DIGITS)}, got {level}")
    return sum(LEVEL_DIGITS[:level])


@dataclass
class Layer:
    """One grid level: parallel arrays, one entry per area (an area may be a MultiPolygon).

    `source_ids` optionally keeps each area's identifier in the file it came from, when that is not
    an urbangrid code (a US census GEOID, a CSA number): codes are always the 6+3+3+3 scheme.

    >>> layer = Layer(1, ["310101"], ["黄浦区"], [None], shapely.box(121.4, 31.2, 121.5, 31.25))
    >>> len(layer), layer.geoms.dtype, layer.index_of("310101")
    (1, dtype('O'), 0)
    """

    level: int
    codes: list[str]
    names: list[str]
    parents: list[str | None]
    geoms: npt.NDArray[np.object_]
    source_ids: list[str] | None = None

    def __post_init__(self) -> None:
        code_length(self.level)  # validates the level
        self.geoms = np.asarray(self.geoms, dtype=object).reshape(-1)
        n = len(self.codes)
        lengths = {
            "names": len(self.names),
            "parents": len(self.parents),
            "geoms": len(self.geoms),
        }
        if self.source_ids is not None:
            lengths["source_ids"] = len(self.source_ids)
        wrong = {k: v for k, v in lengths.items() if v != n}
        if wrong:
            raise ValueError(f"level {self.level} layer has {n} codes but lengths {wrong}")

    def __len__(self) -> int:
        return len(self.codes)

    def index_of(self, code: str) -> int:
        """Position of the area with `code` (first one if duplicated); KeyError if absent."""
        try:
            return self.codes.index(code)
        except ValueError:
            raise KeyError(f"no area with code {code!r} at level {self.level}") from None

    def take(self, indices: Sequence[int] | npt.NDArray[np.integer]) -> Layer:
        """A new layer with the areas at `indices`, in that order."""
        idx = [int(i) for i in indices]
        return Layer(
            level=self.level,
            codes=[self.codes[i] for i in idx],
            names=[self.names[i] for i in idx],
            parents=[self.parents[i] for i in idx],
            geoms=self.geoms[np.asarray(idx, dtype=np.intp)] if idx else np.empty(0, object),
            source_ids=None if self.source_ids is None else [self.source_ids[i] for i in idx],
        )

    def sorted_by_code(self) -> Layer:
        """The same areas ordered by code (stable for duplicates)."""
        return self.take(sorted(range(len(self)), key=self.codes.__getitem__))

    def bounds(self) -> tuple[float, float, float, float]:
        """(min lon, min lat, max lon, max lat) of all areas; ValueError if the layer is empty."""
        if len(self) == 0:
            raise ValueError(f"level {self.level} layer is empty")
        b = shapely.bounds(self.geoms)
        return (
            float(np.nanmin(b[:, 0])),
            float(np.nanmin(b[:, 1])),
            float(np.nanmax(b[:, 2])),
            float(np.nanmax(b[:, 3])),
        )


#: Levels of one grid, `grid[level]` is that level's layer; levels are consecutive from 1.
Grid = dict[int, Layer]


def leaf_level(grid: Grid) -> int:
    """The deepest level present, checking the levels run 1..n without a hole.

    >>> sq = shapely.box(0, 0, 1, 1)
    >>> leaf_level({1: Layer(1, ["310101"], ["a"], [None], [sq])})
    1
    """
    if not grid:
        raise ValueError("the grid has no levels")
    levels = sorted(grid)
    if levels != list(range(1, len(levels) + 1)):
        raise ValueError(f"grid levels must run 1..n without a hole, got {levels}")
    for level, layer in grid.items():
        if layer.level != level:
            raise ValueError(f"grid[{level}] holds a level {layer.level} layer")
    return levels[-1]
