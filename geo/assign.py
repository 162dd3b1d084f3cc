"""Assign points to grid areas: the hot path of intake, vectorised over arrays of points.

The rule, which every caller relies on:

- A point is in an area when the area **covers** it: its boundary included.
- The point is assigned at the **leaf** level (the deepest level of the grid). When several leaf
  areas cover it (a point on a shared edge or vertex, or inside an overlap), the one with the
  **lowest code** wins.
- The upper levels are read off the winning leaf's **parent chain**, never looked up separately,
  so the four codes of a point always nest.
- A point no leaf covers is **outside the service area**: `inside` is False and its codes are "".
  Nothing is guessed (no nearest area). The service area is the union of the leaves.
- Points must be WGS84 longitude/latitude: convert first with `geo.crs.to_wgs84`.

How it is fast: a raster of small tiles (`geo.raster`) answers every point in a tile no leaf
boundary touches; the points of the other tiles go through the exact `covers` test here, against
the few leaves that can cover their tile, in code order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np
import numpy.typing as npt
import shapely

from geo.layer import Grid, Layer, leaf_level
from geo.raster import (
    MAX_TILES,
    OUTSIDE,
    FloatArray,
    GeomArray,
    IntArray,
    Raster,
    rasterise,
    unique,
)

__all__ = ["Assignment", "GridIndex", "loop_assign"]


@dataclass
class Assignment:
    """Where each point fell: per-level codes ("" outside), `inside`, and the leaf's position.

    `codes[level]` is an object array of str parallel to the input points (object arrays share
    one str per area, where fixed-width unicode would copy 60 bytes per point and level).
    `leaf` indexes the index's `leaf_codes` (-1 outside).
    """

    codes: dict[int, npt.NDArray[np.object_]]
    inside: npt.NDArray[np.bool_]
    leaf: IntArray

    def __len__(self) -> int:
        return len(self.inside)


def _check_xy(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    xs = np.asarray(x, dtype=np.float64).reshape(-1)
    ys = np.asarray(y, dtype=np.float64).reshape(-1)
    if xs.shape != ys.shape:
        raise ValueError(f"x and y differ in length: {len(xs)} vs {len(ys)}")
    return xs, ys


@dataclass
class GridIndex(Raster):
    """A grid prepared for fast point assignment (see the module docstring for the rule): the
    tile raster of its leaves, with their codes, names, parent chains and shapes.

    >>> from geo.layer import Layer
    >>> west = shapely.box(121.40, 31.20, 121.41, 31.21)
    >>> east = shapely.box(121.41, 31.20, 121.42, 31.21)
    >>> grid = {1: Layer(1, ["310101"], ["黄浦区"], [None], [shapely.union(west, east)]),
    ...         2: Layer(2, ["310101002", "310101001"], ["东", "西"], ["310101"] * 2, [east, west])}
    >>> index = GridIndex.build(grid)
    >>> a = index.assign([121.405, 121.41, 121.415, 121.50], [31.205] * 4)
    >>> a.codes[2].tolist()  # the point on the shared edge goes to the lower code
    ['310101001', '310101001', '310101002', '']
    >>> a.codes[1].tolist(), a.inside.tolist()
    (['310101', '310101', '310101', ''], [True, True, True, False])
    """

    levels: list[int]
    leaf_codes: npt.NDArray[np.str_]
    level_codes: dict[int, npt.NDArray[np.str_]]
    level_names: dict[int, npt.NDArray[np.str_]]
    ancestors: dict[int, IntArray]
    leaf_rect: npt.NDArray[np.bool_]
    leaf_bounds: FloatArray
    #: WKB of each leaf that is not a plain rectangle (empty for rectangles, whose bounds are
    #: their exact test), concatenated; leaf i is ``leaf_wkb[leaf_wkb_offsets[i]:…[i + 1]]``.
    leaf_wkb: npt.NDArray[np.uint8]
    leaf_wkb_offsets: IntArray
    # The leaves as geometries when the index was built in this process; a mapped index
    # decodes the few a boundary tile needs from `leaf_wkb` instead of holding a million.
    _geoms: GeomArray | None = field(default=None, repr=False)
    _tree: shapely.STRtree | None = field(default=None, repr=False)
    _code_objects: dict[int, npt.NDArray[np.object_]] = field(default_factory=dict, repr=False)

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def build(
        cls, grid: Grid, *, tile_m: float | None = None, max_tiles: int = MAX_TILES
    ) -> GridIndex:
        """Index `grid` for assignment at its deepest level.

        `tile_m` is the raster tile side in metres (default: 1/14 of the median leaf's side, or
        finer if the extent fits in 4M tiles, at least 2 m); it is enlarged as needed to keep the
        raster within `max_tiles` tiles.
        Raises ValueError for duplicate leaf codes, invalid or empty leaf geometries, or a parent
        code missing from the level above.
        """
        leaf_lvl = leaf_level(grid)
        levels = sorted(grid)
        leaf = grid[leaf_lvl].sorted_by_code()
        if len(leaf) == 0:
            raise ValueError(f"the leaf level {leaf_lvl} has no areas")
        codes = np.asarray(leaf.codes, dtype=np.str_)
        dup = codes[1:][codes[1:] == codes[:-1]]
        if len(dup):
            raise ValueError(f"duplicate leaf codes: {sorted(set(dup.tolist()))[:10]}")
        geoms = np.asarray(leaf.geoms, dtype=object)
        bad = ~np.isin(shapely.get_type_id(geoms), (3, 6)) | shapely.is_empty(geoms)
        bad |= ~shapely.is_valid(geoms)
        if bad.any():
            raise ValueError(
                f"leaf areas must be valid, non-empty polygons; not so: {codes[bad][:10].tolist()}"
            )

        level_codes, level_names, ancestors = _chains(grid, leaf, levels)
        shapely.prepare(geoms)

        tiles = rasterise(geoms, leaf.bounds(), tile_m=tile_m, max_tiles=max_tiles)
        rect = _is_rectangle(geoms)
        wkb, wkb_offsets = _pack_wkb(geoms, rect)
        return cls(
            **{f.name: getattr(tiles, f.name) for f in fields(Raster)},
            levels=levels,
            leaf_codes=codes,
            level_codes=level_codes,
            level_names=level_names,
            ancestors=ancestors,
            leaf_rect=rect,
            leaf_bounds=shapely.bounds(geoms),
            leaf_wkb=wkb,
            leaf_wkb_offsets=wkb_offsets,
            _geoms=geoms,
        )

    # -- querying ---------------------------------------------------------------------------

    @property
    def leaf_level(self) -> int:
        return self.levels[-1]

    def assign(self, x: npt.ArrayLike, y: npt.ArrayLike) -> Assignment:
        """Codes at every level for WGS84 points (x = longitude, y = latitude).

        >>> grid = {1: Layer(1, ["310101"], ["黄浦区"], [None], [shapely.box(0, 0, 1, 1)])}
        >>> GridIndex.build(grid).assign([0.5, 1.0, 2.0], [0.5, 0.5, 0.5]).inside.tolist()
        [True, True, False]
        """
        xs, ys = _check_xy(x, y)
        return self._result(self.locate(xs, ys))

    def locate(self, x: npt.ArrayLike, y: npt.ArrayLike) -> IntArray:
        """Leaf index (into `leaf_codes`) covering each point, lowest code first; -1 outside."""
        xs, ys = _check_xy(x, y)
        col = np.floor((xs - self.x0) / self.dx)
        row = np.floor((ys - self.y0) / self.dy)
        # NaN fails every comparison, so it lands outside too.
        ok = (col >= 0) & (col < self.nx) & (row >= 0) & (row < self.ny)
        flat = np.zeros(len(xs), dtype=np.int64)
        flat[ok] = row[ok].astype(np.int64) * self.nx + col[ok].astype(np.int64)
        value = np.where(ok, self.raster[flat], OUTSIDE).astype(np.int64)
        leaf = np.where(value >= 0, value, OUTSIDE)
        todo = np.flatnonzero(value <= -2)
        # Leaves decoded for this call, so one that several rounds test is decoded once.
        decoded: GeomArray | None = None
        if len(todo):
            tile = -2 - value[todo]
            start = self.cand_offsets[tile]
            count = self.cand_offsets[tile + 1] - start
            pending = np.ones(len(todo), dtype=bool)
            for k in range(int(count.max())):
                act = np.flatnonzero(pending & (count > k))
                if len(act) == 0:
                    break
                cand = self.candidates[start[act] + k]
                px, py = xs[todo[act]], ys[todo[act]]
                hit = np.zeros(len(act), dtype=bool)
                # Axis-aligned rectangles (whole lattice cells) are tested by comparison, which
                # is exact; other shapes go through GEOS.
                rect = self.leaf_rect[cand]
                b = self.leaf_bounds[cand[rect]]
                hit[rect] = (
                    (px[rect] >= b[:, 0])
                    & (px[rect] <= b[:, 2])
                    & (py[rect] >= b[:, 1])
                    & (py[rect] <= b[:, 3])
                )
                other = np.flatnonzero(~rect)
                if len(other):
                    if self._geoms is not None:
                        shapes = self._geoms[cand[other]]
                    else:
                        if decoded is None:
                            decoded = np.empty(len(self.leaf_codes), dtype=object)
                        need = unique(cand[other].astype(np.int64))
                        need = need[shapely.is_missing(decoded[need])]
                        decoded[need] = self.leaf_geometries(need)
                        shapes = decoded[cand[other]]
                    hit[other] = shapely.intersects_xy(shapes, px[other], py[other])
                leaf[todo[act[hit]]] = cand[hit]
                pending[act[hit]] = False
        return leaf

    def leaf_of(self, x: float, y: float) -> int:
        """:meth:`locate` for one point, in plain Python: the same answer without the cost of
        building arrays, which is most of the time intake spends placing one resident's report.

        >>> grid = {1: Layer(1, ["310101"], ["黄浦区"], [None], [shapely.box(0, 0, 1, 1)])}
        >>> index = GridIndex.build(grid)
        >>> [index.leaf_of(0.5, 0.5), index.leaf_of(1.0, 0.5), index.leaf_of(2.0, 0.5)]
        [0, 0, -1]
        """
        if not (math.isfinite(x) and math.isfinite(y)):
            return OUTSIDE
        col = math.floor((x - self.x0) / self.dx)
        row = math.floor((y - self.y0) / self.dy)
        if not (0 <= col < self.nx and 0 <= row < self.ny):
            return OUTSIDE
        value = int(self.raster[row * self.nx + col])
        if value >= 0 or value == OUTSIDE:
            return value
        tile = -2 - value
        for k in range(int(self.cand_offsets[tile]), int(self.cand_offsets[tile + 1])):
            cand = int(self.candidates[k])
            if self.leaf_rect[cand]:
                x0, y0, x1, y1 = self.leaf_bounds[cand]
                if x0 <= x <= x1 and y0 <= y <= y1:
                    return cand
            elif shapely.intersects_xy(self.leaf_geometries([cand])[0], x, y):
                return cand
        return OUTSIDE

    def covers(self, x: float, y: float) -> bool:
        """Whether a WGS84 point lies in the service area (in some base cell)."""
        return self.leaf_of(x, y) >= 0

    def leaf_geometries(self, leaves: npt.ArrayLike) -> GeomArray:
        """The geometries of the given leaves (positions in `leaf_codes`), in that order.

        >>> grid = {1: Layer(1, ["310101"], ["黄浦区"], [None], [shapely.box(0, 0, 1, 1)])}
        >>> GridIndex.build(grid).leaf_geometries([0])[0].bounds
        (0.0, 0.0, 1.0, 1.0)
        """
        ids = np.asarray(leaves, dtype=np.int64).reshape(-1)
        if self._geoms is not None:
            return self._geoms[ids]
        out = np.empty(len(ids), dtype=object)
        rect = self.leaf_rect[ids]
        if rect.any():
            b = self.leaf_bounds[ids[rect]]
            out[rect] = shapely.box(b[:, 0], b[:, 1], b[:, 2], b[:, 3], ccw=False)
        other = np.flatnonzero(~rect)
        if len(other):
            start = self.leaf_wkb_offsets[ids[other]].tolist()
            stop = self.leaf_wkb_offsets[ids[other] + 1].tolist()
            # Slices of a memoryview cost far less than slices of a (memory-mapped) array.
            buf = self.leaf_wkb.view(np.ndarray).data
            out[other] = shapely.from_wkb(
                [bytes(buf[a:b]) for a, b in zip(start, stop, strict=True)]
            )
        return out

    @property
    def leaf_geoms(self) -> GeomArray:
        """Every leaf's geometry (decoded from the file for a mapped index: costly, for tools)."""
        if self._geoms is None:
            self._geoms = self.leaf_geometries(np.arange(len(self.leaf_codes)))
        return self._geoms

    def _result(self, leaf: IntArray) -> Assignment:
        codes = {
            level: self._codes_as_objects(level)[self.ancestors[level][leaf]]
            for level in self.levels
        }
        return Assignment(codes=codes, inside=leaf >= 0, leaf=leaf)

    def _codes_as_objects(self, level: int) -> npt.NDArray[np.object_]:
        # Made on first use: a process placing one report at a time never needs a million str.
        found = self._code_objects.get(level)
        if found is None:
            found = self._code_objects[level] = np.asarray(self.level_codes[level]).astype(object)
        return found

    def names(self, level: int, codes: npt.ArrayLike) -> npt.NDArray[np.str_]:
        """Names for codes of `level` ("" for "" or unknown codes).

        >>> grid = {1: Layer(1, ["310101"], ["黄浦区"], [None], [shapely.box(0, 0, 1, 1)])}
        >>> GridIndex.build(grid).names(1, ["310101", ""]).tolist()
        ['黄浦区', '']
        """
        known = self.level_codes[level][:-1]
        wanted = np.asarray(codes, dtype=np.str_)
        pos = np.searchsorted(known, wanted)
        pos = np.minimum(pos, len(known) - 1) if len(known) else pos
        found = (
            (known[pos] == wanted) & (wanted != "") if len(known) else np.zeros(len(wanted), bool)
        )
        return np.where(found, self.level_names[level][pos], "")

    @property
    def tree(self) -> shapely.STRtree:
        """An STRtree over the leaves (in code order), for the per-point baseline."""
        if self._tree is None:
            self._tree = shapely.STRtree(self.leaf_geoms)
        return self._tree


def _is_rectangle(geoms: GeomArray) -> npt.NDArray[np.bool_]:
    """True for polygons that are exactly their axis-aligned bounding box."""
    simple = (
        (shapely.get_type_id(geoms) == 3)
        & (shapely.get_num_interior_rings(geoms) == 0)
        & (shapely.get_num_coordinates(geoms) == 5)
    )
    out = np.zeros(len(geoms), dtype=bool)
    idx = np.flatnonzero(simple)
    if len(idx) == 0:
        return out
    coords = shapely.get_coordinates(geoms[idx]).reshape(len(idx), 5, 2)
    b = shapely.bounds(geoms[idx])
    on_x = (coords[:, :, 0] == b[:, None, 0]) | (coords[:, :, 0] == b[:, None, 2])
    on_y = (coords[:, :, 1] == b[:, None, 1]) | (coords[:, :, 1] == b[:, None, 3])
    # Every vertex on a bbox corner and opposite vertices apart in both axes: for a valid ring
    # (checked at build) that is the bbox itself.
    apart = (coords[:, 0] != coords[:, 2]).all(axis=1) & (coords[:, 1] != coords[:, 3]).all(axis=1)
    out[idx] = on_x.all(axis=1) & on_y.all(axis=1) & apart
    return out


def _pack_wkb(
    geoms: GeomArray, rect: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.uint8], IntArray]:
    """The WKB of the non-rectangular leaves, concatenated, and every leaf's offset into it."""
    sizes = np.zeros(len(geoms), dtype=np.int64)
    other = np.flatnonzero(~rect)
    blobs = shapely.to_wkb(geoms[other]) if len(other) else np.empty(0, dtype=object)
    sizes[other] = [len(blob) for blob in blobs]
    offsets = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    data = np.frombuffer(b"".join(blobs.tolist()), dtype=np.uint8)
    return data, offsets


def _chains(
    grid: Grid, leaf: Layer, levels: list[int]
) -> tuple[dict[int, npt.NDArray[np.str_]], dict[int, npt.NDArray[np.str_]], dict[int, IntArray]]:
    """Per-level code and name arrays (sorted, with a trailing "" for outside) and, per level,
    each leaf's ancestor position in them (the last position, "", for outside)."""
    level_codes: dict[int, npt.NDArray[np.str_]] = {}
    level_names: dict[int, npt.NDArray[np.str_]] = {}
    for level in levels:
        layer = grid[level].sorted_by_code()
        level_codes[level] = np.asarray([*layer.codes, ""], dtype=np.str_)
        level_names[level] = np.asarray([*layer.names, ""], dtype=np.str_)
    ancestors: dict[int, IntArray] = {}
    n = len(leaf)
    current = np.arange(n, dtype=np.int64)  # position of each leaf's ancestor at `level`
    parents_of = list(leaf.parents)
    for level in reversed(levels):
        ancestors[level] = np.r_[current, len(level_codes[level]) - 1]  # -1 -> ""
        if level == levels[0]:
            break
        upper = level_codes[level - 1][:-1]
        wanted = np.asarray([p or "" for p in parents_of], dtype=np.str_)
        pos = np.searchsorted(upper, wanted)
        pos_c = np.minimum(pos, len(upper) - 1)
        ok = upper[pos_c] == wanted
        if not ok.all():
            missing = sorted(set(wanted[~ok].tolist()))[:10]
            raise ValueError(
                f"level {level} areas name parents missing from level {level - 1}: {missing}"
            )
        current = pos_c.astype(np.int64)
        layer = grid[level - 1].sorted_by_code()
        parents_of = [layer.parents[int(i)] for i in current]
    return level_codes, level_names, ancestors


def loop_assign(grid_or_index: Grid | GridIndex, x: npt.ArrayLike, y: npt.ArrayLike) -> Assignment:
    """The per-point baseline: one `STRtree.query(point, predicate="intersects")` per point.

    Same rule and result as `GridIndex.assign`, only slow; kept to check and benchmark it.

    >>> grid = {1: Layer(1, ["310101"], ["黄浦区"], [None], [shapely.box(0, 0, 1, 1)])}
    >>> loop_assign(grid, [0.5, 2.0], [0.5, 0.5]).codes[1].tolist()
    ['310101', '']
    """
    index = (
        grid_or_index if isinstance(grid_or_index, GridIndex) else GridIndex.build(grid_or_index)
    )
    xs, ys = _check_xy(x, y)
    tree = index.tree
    leaf = np.full(len(xs), OUTSIDE, dtype=np.int64)
    for i in range(len(xs)):
        hits = tree.query(shapely.Point(xs[i], ys[i]), predicate="intersects")
        if len(hits):
            leaf[i] = int(hits.min())  # leaves are in code order: the lowest code wins
    return index._result(leaf)
