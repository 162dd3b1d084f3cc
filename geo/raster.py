"""The tile raster behind grid assignment: which tiles hold one answer, and which leaves the
others must test.

The leaves are rasterised onto a grid of small square tiles (about a tenth of a cell, enlarged for
large extents so the raster stays bounded). A tile no leaf boundary touches is "pure": every point
in it has the same answer, read from the raster. Tiles a boundary touches are "impure": their
points go through an exact `covers` test against the few leaves that can cover that tile, in code
order. Purity is decided conservatively (every tile an edge's bounding box touches, with a
margin), so the raster only ever speeds up, never changes, an answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import shapely

from geo.crs import METRES_PER_DEGREE

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
GeomArray = npt.NDArray[np.object_]

#: Default upper bound on raster tiles (int32 each): 16M tiles = 64 MB.
MAX_TILES = 16_000_000
# Tiles the automatic tile size aims at when leaves are large (4M tiles = 16 MB).
_TILE_BUDGET = 4_000_000
# Tiles along the side of a typical leaf: more tiles, fewer points need the exact test.
_TILES_PER_SIDE = 14.0
# Raster footprint (tiles) of the leaves processed together while building.
_CHUNK_TILES = 2_000_000
# Margin, in degrees (~0.1 mm), added around each edge when marking impure tiles, so rounding in
# the interpolated sub-segments can never leave an edge's tile unmarked.
_EDGE_MARGIN_DEG = 1e-9
OUTSIDE = -1


class _Edges(NamedTuple):
    """Ring edges, one per position: from (x1, y1) to (x2, y2), and the leaf each bounds."""

    x1: FloatArray
    y1: FloatArray
    x2: FloatArray
    y2: FloatArray
    owner: IntArray


@dataclass
class Lattice:
    """Tiles of ``dx`` × ``dy`` degrees from (``x0``, ``y0``): ``nx`` per row, ``ny`` rows."""

    x0: float
    y0: float
    dx: float
    dy: float
    nx: int
    ny: int


@dataclass
class Raster(Lattice):
    """Leaves rasterised onto tiles of ``dx`` × ``dy`` degrees from (``x0``, ``y0``).

    ``raster`` holds, per tile (row-major, ``nx`` per row), the leaf filling it (its position in
    code order), ``OUTSIDE`` (-1), or ``-2 - k`` for the k-th impure tile, whose candidate
    leaves are ``candidates[cand_offsets[k]:cand_offsets[k + 1]]`` in code order.
    """

    tile_m: float
    raster: npt.NDArray[np.int32]
    cand_offsets: IntArray
    candidates: npt.NDArray[np.int32]

    @property
    def impure_share(self) -> float:
        """Share of raster tiles that need the exact test (a build-quality figure)."""
        return float((self.raster <= -2).mean())


def rasterise(
    geoms: GeomArray,
    extent: tuple[float, float, float, float],
    *,
    tile_m: float | None = None,
    max_tiles: int = MAX_TILES,
) -> Raster:
    """The raster of valid leaf polygons ``geoms`` (in code order) within ``extent`` (their
    bounds: min lon, min lat, max lon, max lat).

    `tile_m` is the raster tile side in metres (default: 1/14 of the median leaf's side, or
    finer if the extent fits in 4M tiles, at least 2 m); it is enlarged as needed to keep the
    raster within `max_tiles` tiles.

    >>> leaves = np.array([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)], dtype=object)
    >>> r = rasterise(leaves, (0.0, 0.0, 2.0, 1.0), tile_m=50_000)
    >>> r.raster.reshape(r.ny, r.nx)[1].tolist()  # a row across both: pure inside, else not
    [-7, 0, -8, 1, -9, -1]
    >>> r.candidates[r.cand_offsets[6] : r.cand_offsets[7]].tolist()  # tile -8, the shared edge
    [0, 1]
    """
    xmin, ymin, xmax, ymax = extent
    coslat = float(np.cos(np.radians((ymin + ymax) / 2.0)))
    width_m = (xmax - xmin) * METRES_PER_DEGREE * coslat
    height_m = (ymax - ymin) * METRES_PER_DEGREE
    if tile_m is None:
        # Degrees² to m² by the scale at the centre latitude: plenty for choosing a size.
        m2_per_deg2 = METRES_PER_DEGREE**2 * coslat
        side = float(np.sqrt(np.median(shapely.area(geoms)) * m2_per_deg2))
        # A fourteenth of a typical leaf keeps most tiles pure; where the extent allows finer
        # tiles within the default budget, take them: large leaves have long, detailed
        # boundaries, and finer tiles send fewer points to the exact test.
        tile_m = max(
            min(side / _TILES_PER_SIDE, float(np.sqrt(width_m * height_m / _TILE_BUDGET))), 2.0
        )
    if tile_m <= 0:
        raise ValueError(f"tile_m must be positive, got {tile_m}")
    while (width_m / tile_m + 2) * (height_m / tile_m + 2) > max_tiles:
        tile_m *= 1.25
    dy = tile_m / METRES_PER_DEGREE
    dx = dy / coslat
    x0 = xmin - dx / 2.0
    y0 = ymin - dy / 2.0
    nx = int(np.floor((xmax - x0) / dx)) + 2
    ny = int(np.floor((ymax - y0) / dy)) + 2

    lattice = Lattice(x0, y0, dx, dy, nx, ny)
    n_tiles = nx * ny
    n_leaf = len(geoms)
    # Leaves are processed in chunks of bounded raster footprint, so memory stays near the
    # raster's own size however many leaves there are.
    b = shapely.bounds(geoms)
    footprint = ((b[:, 2] - b[:, 0]) / dx + 2) * ((b[:, 3] - b[:, 1]) / dy + 2)
    chunks = _chunks(footprint, _CHUNK_TILES)
    edges = [_edges(geoms[sl], sl.start) for sl in chunks]

    # Impure tiles: touched by some edge. Their candidates are the leaves whose edge touches
    # the tile plus the leaves filling its centre: a leaf covering any point of the tile is
    # one or the other.
    impure = np.zeros(n_tiles, dtype=bool)
    keys: list[IntArray] = []
    for part in edges:
        tile, who = _edge_tiles(part, lattice)
        impure[tile] = True
        keys.append(unique(tile * n_leaf + who))
    big = np.iinfo(np.int32).max
    raster = np.full(n_tiles, big, dtype=np.int32)
    for part in edges:
        tile, who = _scanline_fill(part, lattice)
        # Where leaves overlap, a tile centre is filled twice: the lowest code (index) wins.
        np.minimum.at(raster, tile, who.astype(np.int32))
        hit = impure[tile]
        keys.append(unique(tile[hit] * n_leaf + who[hit]))
    raster[raster == big] = OUTSIDE

    key = unique(np.concatenate(keys))
    del keys
    cand_tile = key // n_leaf
    candidates = (key % n_leaf).astype(np.int32)
    first = np.r_[True, cand_tile[1:] != cand_tile[:-1]]
    tiles = cand_tile[first]
    cand_offsets = np.r_[np.flatnonzero(first), len(key)].astype(np.int64)
    raster[tiles] = (-2 - np.arange(len(tiles))).astype(np.int32)
    return Raster(
        x0=x0,
        y0=y0,
        dx=dx,
        dy=dy,
        nx=nx,
        ny=ny,
        tile_m=tile_m,
        raster=raster,
        cand_offsets=cand_offsets,
        candidates=candidates,
    )


def _expand(counts: IntArray) -> tuple[IntArray, IntArray]:
    """For counts [2, 0, 3]: owner [0, 0, 2, 2, 2] and position [0, 1, 0, 1, 2]."""
    counts = np.maximum(counts, 0)
    owner = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    starts = np.cumsum(counts) - counts
    pos = np.arange(int(counts.sum()), dtype=np.int64) - starts[owner]
    return owner, pos


def unique(keys: IntArray) -> IntArray:
    """Sorted distinct values (np.unique is far slower than a sort for large int arrays here)."""
    out = np.sort(keys)
    return out[np.r_[True, out[1:] != out[:-1]]] if len(out) else out


def _chunks(weights: FloatArray, limit: float) -> list[slice]:
    """Consecutive slices whose weights sum to about `limit` (one item at least)."""
    total = np.cumsum(weights)
    out: list[slice] = []
    start = 0
    while start < len(weights):
        base = total[start - 1] if start else 0.0
        stop = int(np.searchsorted(total, base + limit, side="right"))
        stop = max(stop, start + 1)
        out.append(slice(start, stop))
        start = stop
    return out


def _edges(geoms: GeomArray, offset: int = 0) -> _Edges:
    """Every ring edge of every area: x1, y1, x2, y2 and the area's index (plus `offset`)."""
    parts, part_owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    same = ring_of[:-1] == ring_of[1:]
    start = np.flatnonzero(same)
    owner = part_owner[ring_part[ring_of[start]]].astype(np.int64) + offset
    return _Edges(
        coords[start, 0], coords[start, 1], coords[start + 1, 0], coords[start + 1, 1], owner
    )


def _scanline_fill(edges: _Edges, lattice: Lattice) -> tuple[IntArray, IntArray]:
    """(tile, leaf) for every tile whose centre lies inside a leaf (even-odd over its rings).

    Rows are taken half-open (an edge spans the row centres in [low y, high y)), computed from
    each vertex's y alone, so two edges meeting at a vertex never both or neither count a row
    they share: the crossing count per row is exact and even for every closed ring.
    """
    x1, y1, x2, y2, owner = edges
    x0, y0, dx, dy = lattice.x0, lattice.y0, lattice.dx, lattice.dy
    nx, ny = lattice.nx, lattice.ny
    ylo = np.minimum(y1, y2)
    yhi = np.maximum(y1, y2)
    r0 = np.clip(np.ceil((ylo - y0) / dy - 0.5), 0, ny).astype(np.int64)
    r1 = np.clip(np.ceil((yhi - y0) / dy - 0.5), 0, ny).astype(np.int64)
    edge, k = _expand(r1 - r0)
    row = r0[edge] + k
    yc = y0 + (row + 0.5) * dy
    t = (yc - y1[edge]) / (y2[edge] - y1[edge])
    xc = x1[edge] + t * (x2[edge] - x1[edge])
    who = owner[edge]
    order = np.lexsort((xc, row, who))
    xs = xc[order]
    rows = row[order]
    whos = who[order]
    # Pair crossings (1st-2nd, 3rd-4th, ...) within each (leaf, row): spans of inside centres.
    xa, xb = xs[0::2], xs[1::2]
    span_row, span_leaf = rows[0::2], whos[0::2]
    c0 = np.clip(np.ceil((xa - x0) / dx - 0.5), 0, nx).astype(np.int64)
    c1 = np.clip(np.ceil((xb - x0) / dx - 0.5), 0, nx).astype(np.int64)
    span, j = _expand(c1 - c0)
    tile = span_row[span] * nx + c0[span] + j
    return tile, span_leaf[span]


def _edge_tiles(edges: _Edges, lattice: Lattice) -> tuple[IntArray, IntArray]:
    """(tile, leaf) for every tile an edge may touch: each edge is cut into pieces no longer
    than a tile, and every tile each piece's bounding box (plus a margin) touches is marked."""
    x1, y1, x2, y2, owner = edges
    x0, y0, dx, dy = lattice.x0, lattice.y0, lattice.dx, lattice.dy
    nx, ny = lattice.nx, lattice.ny
    steps = np.maximum(np.ceil(np.maximum(np.abs(x2 - x1) / dx, np.abs(y2 - y1) / dy)), 1)
    # An axis-parallel edge is its own bounding box (lattice cells are made of them): no need
    # to cut it into pieces.
    steps[(x1 == x2) | (y1 == y2)] = 1
    edge, k = _expand(steps.astype(np.int64))
    f0 = k / steps[edge]
    f1 = (k + 1) / steps[edge]
    ax = x1[edge] + f0 * (x2[edge] - x1[edge])
    bx = x1[edge] + f1 * (x2[edge] - x1[edge])
    ay = y1[edge] + f0 * (y2[edge] - y1[edge])
    by = y1[edge] + f1 * (y2[edge] - y1[edge])
    m = _EDGE_MARGIN_DEG
    c0 = np.clip(np.floor((np.minimum(ax, bx) - m - x0) / dx), 0, nx - 1).astype(np.int64)
    c1 = np.clip(np.floor((np.maximum(ax, bx) + m - x0) / dx), 0, nx - 1).astype(np.int64)
    r0 = np.clip(np.floor((np.minimum(ay, by) - m - y0) / dy), 0, ny - 1).astype(np.int64)
    r1 = np.clip(np.floor((np.maximum(ay, by) + m - y0) / dy), 0, ny - 1).astype(np.int64)
    w = c1 - c0 + 1
    piece, j = _expand(w * (r1 - r0 + 1))
    tile = (r0[piece] + j // w[piece]) * nx + c0[piece] + j % w[piece]
    return tile, owner[edge[piece]]
