"""Generate the levels cities rarely publish: communities inside streets, base cells inside those.

Both generators tile each parent exactly: every piece is the parent clipped to a shape that tiles
the plane (Voronoi regions, lattice squares), so the pieces cover the parent without gaps or
overlaps beyond floating-point noise, and never reach outside it. Output is deterministic: the same
parents, sizes and seed give the same pieces and codes on every machine.
"""

from __future__ import annotations

import zlib

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from geo.codes import generate_codes
from geo.crs import METRES_PER_DEGREE, from_local_metres, local_origin, to_local_metres
from geo.importers import polygonal_part
from geo.layer import LEVEL_DIGITS, Layer

__all__ = ["GridGenerationError", "base_cells", "communities", "lattice_steps", "subdivide"]

GeomArray = npt.NDArray[np.object_]

_MAX_CHILDREN = 10 ** LEVEL_DIGITS[-1] - 1  # 999: three digits per level
_LLOYD_STEPS = 2


class GridGenerationError(ValueError):
    """Generation cannot meet the code scheme (e.g. more than 999 cells in one community)."""


def _rng(seed: int, key: str) -> np.random.Generator:
    # Keyed by the parent's code, so one parent's pieces do not depend on the others.
    return np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])


def _points_inside(
    geom_m: BaseGeometry, n: int, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """`n` uniform random points inside `geom_m` (rejection sampling on its bbox)."""
    xmin, ymin, xmax, ymax = geom_m.bounds
    out: list[npt.NDArray[np.float64]] = []
    have = 0
    share = max(geom_m.area / max((xmax - xmin) * (ymax - ymin), 1e-12), 1e-3)
    for _ in range(100):
        batch = int((n - have) / share * 1.5) + 16
        xs = rng.uniform(xmin, xmax, batch)
        ys = rng.uniform(ymin, ymax, batch)
        ok = shapely.contains_xy(geom_m, xs, ys)
        pts = np.column_stack([xs[ok], ys[ok]])
        out.append(pts)
        have += len(pts)
        if have >= n:
            break
    pts = np.concatenate(out)[:n]
    if len(pts) < n:  # a sliver of a polygon: fall back to points on its surface
        extra = shapely.get_coordinates(shapely.point_on_surface(geom_m))
        pts = np.concatenate([pts, np.repeat(extra, n - len(pts), axis=0)])
    return pts


def _clip(geom: BaseGeometry, regions: GeomArray) -> GeomArray:
    """`geom` intersected with each region, keeping polygonal parts (None where nothing is left)."""
    out = np.empty(len(regions), dtype=object)
    if len(regions) == 0:
        return out
    shapely.prepare(geom)
    inside = shapely.covers(geom, regions)
    out[inside] = regions[inside]
    rest = np.flatnonzero(~inside)
    if len(rest):
        cut = shapely.intersection(regions[rest], geom)
        out[rest] = [polygonal_part(g) for g in cut]
    return out


def subdivide(geom: BaseGeometry, n: int, *, seed: int = 0, key: str = "") -> list[BaseGeometry]:
    """Split a lon/lat polygon into about `n` compact pieces that tile it exactly.

    Seeds are drawn uniformly inside the polygon (deterministically from `seed` and `key`), spread
    by two Lloyd steps so pieces come out of similar size, and the Voronoi regions of the seeds,
    computed in a local metric frame, are clipped to the polygon in lon/lat. A piece may be a
    MultiPolygon where the polygon is concave. Pieces come in no particular order.

    >>> pieces = subdivide(shapely.box(121.40, 31.20, 121.42, 31.22), 4, seed=1)
    >>> len(pieces), round(sum(p.area for p in pieces) / 0.0004, 9)
    (4, 1.0)
    """
    if n <= 1:
        return [geom]
    origin = local_origin([geom])
    geom_m = to_local_metres([geom], origin)[0]
    rng = _rng(seed, key)
    pts = _points_inside(geom_m, n, rng)
    shapely.prepare(geom_m)
    for _ in range(_LLOYD_STEPS):
        cells = shapely.get_parts(
            shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=geom_m, ordered=True)
        )
        if len(cells) != len(pts):  # GEOS merged seeds: keep the seeds as they are
            break
        clipped = shapely.intersection(cells, geom_m)
        moved = shapely.centroid(clipped)
        # A centroid can fall outside a concave piece (or the parent); keep such seeds in place.
        ok = ~shapely.is_empty(moved) & shapely.contains(geom_m, moved)
        new = shapely.get_coordinates(moved[ok]) if ok.any() else np.empty((0, 2))
        pts = pts.copy()
        pts[np.flatnonzero(ok)] = new
        pts = np.unique(pts, axis=0)  # coincident seeds would merge their regions
    region_m = shapely.get_parts(
        shapely.voronoi_polygons(
            shapely.multipoints(pts),
            extend_to=shapely.buffer(shapely.envelope(geom_m), 10.0),
            ordered=True,
        )
    )
    regions = from_local_metres(region_m, origin)
    pieces = _clip(geom, regions)
    return [p for p in pieces if p is not None and p.area > 0]


def _pieces_layer(
    parent: Layer,
    level: int,
    pieces: list[list[BaseGeometry]],
    row_height_deg: float,
    name_format: str,
) -> Layer:
    codes: list[str] = []
    names: list[str] = []
    parents: list[str | None] = []
    geoms: list[BaseGeometry] = []
    for i, group in enumerate(pieces):
        if not group:
            continue
        arr = np.empty(len(group), dtype=object)
        arr[:] = group
        c = shapely.centroid(arr)
        new = generate_codes(
            parent.codes[i],
            level,
            shapely.get_x(c),
            shapely.get_y(c),
            row_height=row_height_deg,
        )
        for k in np.argsort(np.asarray(new)):
            codes.append(new[k])
            names.append(name_format.format(parent=parent.names[i], seq=new[k][-3:]))
            parents.append(parent.codes[i])
            geoms.append(group[k])
    out = np.empty(len(geoms), dtype=object)
    out[:] = geoms
    return Layer(level, codes, names, parents, out)


def communities(parent: Layer, *, target_area_m2: float = 250_000, seed: int = 0) -> Layer:
    """Level 3 communities under level 2 streets: each street split into ~area/target pieces.

    Each street gets round(area / target_area_m2) pieces, at least 1 and at most 999, from
    `subdivide` seeded by (`seed`, street code). Pieces are coded street + 001.. in reading order
    of their centroids (rows of about one community's height, north to south, west to east).

    >>> streets = Layer(2, ["310101002"], ["南京东路街道"], ["310101"],
    ...                 [shapely.box(121.470, 31.230, 121.480, 31.240)])
    >>> layer = communities(streets, target_area_m2=250_000)
    >>> len(layer), layer.codes[0], layer.parents[0]
    (4, '310101002001', '310101002')
    """
    if parent.level != 2:
        raise ValueError(f"communities go under level 2 streets, got level {parent.level}")
    if target_area_m2 <= 0:
        raise ValueError(f"target_area_m2 must be positive, got {target_area_m2}")
    if len(parent) == 0:
        return Layer(3, [], [], [], np.empty(0, dtype=object))
    origin = local_origin(parent.geoms)
    areas = shapely.area(to_local_metres(parent.geoms, origin))
    counts = np.clip(np.rint(areas / target_area_m2), 1, _MAX_CHILDREN).astype(int)
    pieces = [
        subdivide(g, int(n), seed=seed, key=code)
        for g, n, code in zip(parent.geoms, counts, parent.codes, strict=True)
    ]
    row = float(np.sqrt(target_area_m2)) / METRES_PER_DEGREE
    return _pieces_layer(parent, 3, pieces, row, "{parent}第{seq}社区")


def lattice_steps(
    bounds: tuple[float, float, float, float], cell_size_m: float
) -> tuple[float, float]:
    """Lattice spacing (dlon, dlat) in degrees for cells of `cell_size_m` around `bounds`.

    The longitude step uses the cosine of the whole degree of latitude nearest the middle of
    `bounds`, so any part of a city (up to ±0.5° from that degree) gets the same lattice; cells
    are within about 1 % of square.

    >>> dlon, dlat = lattice_steps((121.0, 31.0, 122.0, 31.4), 100.0)
    >>> round(dlon * 1e6), round(dlat * 1e6)
    (1049, 899)
    """
    if cell_size_m <= 0:
        raise ValueError(f"cell_size_m must be positive, got {cell_size_m}")
    lat_ref = round((bounds[1] + bounds[3]) / 2.0)
    dlat = cell_size_m / METRES_PER_DEGREE
    dlon = dlat / float(np.cos(np.radians(lat_ref)))
    return dlon, dlat


def base_cells(parent: Layer, *, cell_size_m: float = 100.0) -> Layer:
    """Level 4 base cells under level 3 communities: an aligned square lattice clipped to each.

    The lattice is shared by all parents (see `lattice_steps`: lines at whole multiples of the
    steps), so cells of neighbouring communities line up. Squares a community covers are kept
    whole; squares on its boundary are clipped to it; empty pieces are dropped. Cells are
    numbered 001.. per community in reading order of their lattice square: rows north to south,
    west to east within a row. A community with more than 999 cells raises GridGenerationError.

    >>> comm = Layer(3, ["310101002001"], ["社区"], ["310101002"],
    ...              [shapely.box(121.4700, 31.2300, 121.4720, 31.2318)])
    >>> cells = base_cells(comm, cell_size_m=100.0)
    >>> len(cells), cells.codes[:2], round(sum(g.area for g in cells.geoms) / comm.geoms[0].area, 9)
    (9, ['310101002001001', '310101002001002'], 1.0)
    """
    if parent.level != 3:
        raise ValueError(f"base cells go under level 3 communities, got level {parent.level}")
    if len(parent) == 0:
        return Layer(4, [], [], [], np.empty(0, dtype=object))
    dlon, dlat = lattice_steps(parent.bounds(), cell_size_m)
    b = shapely.bounds(parent.geoms)
    i0 = np.floor(b[:, 0] / dlon).astype(np.int64)
    i1 = np.floor(b[:, 2] / dlon).astype(np.int64)
    j0 = np.floor(b[:, 1] / dlat).astype(np.int64)
    j1 = np.floor(b[:, 3] / dlat).astype(np.int64)
    nx = i1 - i0 + 1
    ny = j1 - j0 + 1
    per = nx * ny
    total = int(per.sum())
    # Every lattice square meeting each parent's bbox, as flat (parent, i, j) arrays.
    pidx = np.repeat(np.arange(len(parent)), per)
    start = np.repeat(np.cumsum(per) - per, per)
    local = np.arange(total, dtype=np.int64) - start
    ii = i0[pidx] + local % nx[pidx]
    jj = j1[pidx] - local // nx[pidx]  # north row first: reading order within each parent
    boxes = shapely.box(ii * dlon, jj * dlat, (ii + 1) * dlon, (jj + 1) * dlat)

    geoms = np.asarray(parent.geoms, dtype=object)
    shapely.prepare(geoms)
    cell = np.empty(total, dtype=object)
    whole = shapely.covers(geoms[pidx], boxes)
    cell[whole] = boxes[whole]
    edge = np.flatnonzero(~whole & shapely.intersects(geoms[pidx], boxes))
    # GEOS's rectangle clipping is several times faster than a general overlay; its result is
    # checked and the overlay used where it is not a valid polygon.
    for k in edge:
        g = geoms[pidx[k]]
        x = float(ii[k]) * dlon
        y = float(jj[k]) * dlat
        piece = polygonal_part(shapely.clip_by_rect(g, x, y, x + dlon, y + dlat))
        if piece is not None and not piece.is_valid:
            piece = polygonal_part(shapely.intersection(g, boxes[k]))
        cell[k] = piece if piece is not None and piece.area > 0 else None
    keep = np.flatnonzero(~shapely.is_missing(cell))
    if len(keep) == 0:
        return Layer(4, [], [], [], np.empty(0, dtype=object))
    kp = pidx[keep]
    # Squares were laid out in reading order per parent, so a running count numbers them.
    first = np.r_[0, np.flatnonzero(np.diff(kp)) + 1]
    group_start = np.repeat(first, np.diff(np.r_[first, len(kp)]))
    seq = np.arange(len(kp)) - group_start + 1
    counts = np.bincount(kp, minlength=len(parent))
    over = np.flatnonzero(counts > _MAX_CHILDREN)
    if len(over):
        worst = int(over[np.argmax(counts[over])])
        area_m2 = shapely.area(to_local_metres([parent.geoms[worst]], local_origin(parent.geoms)))
        need = float(np.sqrt(float(area_m2[0]) / _MAX_CHILDREN))
        raise GridGenerationError(
            f"{len(over)} communities would have more than {_MAX_CHILDREN} cells of "
            f"{cell_size_m:g} m (e.g. {parent.codes[worst]} {parent.names[worst]}: "
            f"{counts[worst]} cells); use a larger cell size (at least ~{need:.0f} m) "
            "or split the community"
        )
    codes = [f"{parent.codes[p]}{s:03d}" for p, s in zip(kp.tolist(), seq.tolist(), strict=True)]
    names = [f"网格{s:03d}" for s in seq.tolist()]
    parents: list[str | None] = [parent.codes[p] for p in kp.tolist()]
    return Layer(4, codes, names, parents, cell[keep])
