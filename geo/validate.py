"""Check that a grid nests: every problem reported, area by area, never silently fixed.

What is checked, level by level:

- codes: the right number of digits (`code_format`), unique (`duplicate_code`), starting with the
  parent's code (`code_prefix`), with a parent that exists (`missing_parent`, `unknown_parent`);
- geometry: valid and non-empty (`invalid_geometry`, `empty_geometry`);
- nesting: a child reaching outside its parent (`outside_parent`), part of a parent covered by none
  of its children (`gap`), two areas of one level sharing ground (`overlap`).

Tolerance. Boundaries that were digitised, converted or clipped separately never agree to the
last digit, so spatial problems are judged by width, not by their mere existence: each connected
piece of spill, gap or overlap has a mean width of 2·area/perimeter (metres, in a local metric
frame), and only pieces wider than `tolerance_m` count. A sliver 0.3 m wide and 2 km long is
noise; a 5 m x 5 m hole is a gap. `measure` is the area (m²) of the pieces that count.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from geo.codes import code_problem
from geo.crs import from_local_metres, local_origin, to_local_metres
from geo.layer import Grid, Layer

__all__ = ["Problem", "validate_grid"]

GeomArray = npt.NDArray[np.object_]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the grid. `codes` names the offending area(s); `measure` is an area
    in m² for spatial problems (outside_parent, gap, overlap) and a count otherwise."""

    kind: str
    level: int
    codes: tuple[str, ...]
    detail: str
    measure: float


def _significant(
    geoms: GeomArray, tolerance_m: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], list[BaseGeometry | None]]:
    """Per geometry: area (m²) and widest mean width (m) of its pieces wider than the tolerance,
    and a point on its largest such piece (None where no piece counts)."""
    n = len(geoms)
    area = np.zeros(n, dtype=np.float64)
    width = np.zeros(n, dtype=np.float64)
    where: list[BaseGeometry | None] = [None] * n
    if n == 0:
        return area, width, where
    parts, owner = shapely.get_parts(geoms, return_index=True)
    poly = np.isin(shapely.get_type_id(parts), (3, 6))
    parts, owner = parts[poly], owner[poly]
    a = shapely.area(parts)
    perimeter = shapely.length(parts)
    w = np.where(perimeter > 0, 2.0 * a / np.where(perimeter > 0, perimeter, 1.0), 0.0)
    keep = w > tolerance_m
    parts, owner, a, w = parts[keep], owner[keep], a[keep], w[keep]
    np.add.at(area, owner, a)
    np.maximum.at(width, owner, w)
    for i in np.unique(owner).tolist():
        mine = np.flatnonzero(owner == i)
        where[i] = shapely.point_on_surface(parts[mine[int(np.argmax(a[mine]))]])
    return area, width, where


def _where(point_m: BaseGeometry | None, origin: tuple[float, float]) -> str:
    if point_m is None:
        return ""
    p = from_local_metres([point_m], origin)[0]
    return f" near ({p.x:.6f}, {p.y:.6f})"


def _code_problems(layer: Layer, upper: Layer | None) -> list[Problem]:
    out: list[Problem] = []
    lvl = layer.level
    for code, count in Counter(layer.codes).items():
        if count > 1:
            out.append(
                Problem(
                    "duplicate_code",
                    lvl,
                    (code,),
                    f"{count} level {lvl} areas share code {code}",
                    count,
                )
            )
    upper_codes = set(upper.codes) if upper is not None else set()
    for code, name, parent in zip(layer.codes, layer.names, layer.parents, strict=True):
        problem = code_problem(code, lvl)
        if problem is not None:
            out.append(Problem("code_format", lvl, (code,), f"{code} {name}: code {problem}", 1))
            continue
        if lvl == 1:
            continue
        if parent is None:
            out.append(Problem("missing_parent", lvl, (code,), f"{code} {name}: no parent", 1))
            continue
        if upper is not None and parent not in upper_codes:
            out.append(
                Problem(
                    "unknown_parent",
                    lvl,
                    (code, parent),
                    f"{code} {name}: parent {parent} is not a level {lvl - 1} area",
                    1,
                )
            )
        if not code.startswith(parent):
            out.append(
                Problem(
                    "code_prefix",
                    lvl,
                    (code, parent),
                    f"{code} {name}: code does not start with its parent's code {parent}",
                    1,
                )
            )
    return out


def _geometry_problems(layer: Layer) -> tuple[list[Problem], GeomArray]:
    """Problems with the geometries themselves, and the geometries made usable for measuring."""
    out: list[Problem] = []
    geoms = np.asarray(layer.geoms, dtype=object).copy()
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for i in np.flatnonzero(missing):
        out.append(
            Problem(
                "empty_geometry",
                layer.level,
                (layer.codes[i],),
                f"{layer.codes[i]}: no geometry",
                1,
            )
        )
        geoms[i] = shapely.Polygon()
    bad = ~missing & ~shapely.is_valid(geoms)
    for i in np.flatnonzero(bad):
        reason = shapely.is_valid_reason(geoms[i])
        out.append(
            Problem(
                "invalid_geometry",
                layer.level,
                (layer.codes[i],),
                f"{layer.codes[i]} {layer.names[i]}: invalid polygon ({reason})",
                1,
            )
        )
        geoms[i] = shapely.make_valid(geoms[i])
    return out, geoms


def _overlaps(
    layer: Layer, geoms_m: GeomArray, tolerance_m: float, origin: tuple[float, float]
) -> tuple[list[Problem], dict[int, float]]:
    """Overlap problems within one level, and the overlap area per area (for the gap bound)."""
    out: list[Problem] = []
    shared: dict[int, float] = {}
    tree = shapely.STRtree(geoms_m)
    a, b = tree.query(geoms_m, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if len(a) == 0:
        return out, shared
    interior = shapely.relate_pattern(geoms_m[a], geoms_m[b], "T********")
    a, b = a[interior], b[interior]
    inter = shapely.intersection(geoms_m[a], geoms_m[b])
    whole = shapely.area(inter)
    for i, j, w in zip(a.tolist(), b.tolist(), whole.tolist(), strict=True):
        shared[i] = shared.get(i, 0.0) + w
        shared[j] = shared.get(j, 0.0) + w
    areas, widths, points = _significant(inter, tolerance_m)
    for k in np.flatnonzero(areas > 0).tolist():
        i, j = int(a[k]), int(b[k])
        area, width, at = float(areas[k]), float(widths[k]), points[k]
        siblings = layer.parents[i] == layer.parents[j]
        out.append(
            Problem(
                "overlap",
                layer.level,
                (layer.codes[i], layer.codes[j]),
                f"{layer.codes[i]} {layer.names[i]} and {layer.codes[j]} {layer.names[j]}"
                f"{' (siblings)' if siblings else ''} overlap by {area:.0f} m² "
                f"(up to {width:.1f} m wide){_where(at, origin)}",
                area,
            )
        )
    return out, shared


def _nesting(
    child: Layer,
    child_m: GeomArray,
    parent: Layer,
    parent_m: GeomArray,
    overlap_of_child: dict[int, float],
    tolerance_m: float,
    origin: tuple[float, float],
) -> list[Problem]:
    out: list[Problem] = []
    lvl = child.level
    where = {code: i for i, code in reversed(list(enumerate(parent.codes)))}
    pidx = np.asarray([where.get(p or "", -1) for p in child.parents], dtype=np.intp)
    linked = np.flatnonzero(pidx >= 0)
    inside_area = np.zeros(len(child), dtype=np.float64)
    if len(linked):
        shapely.prepare(parent_m)
        c, p = linked, pidx[linked]
        covered = shapely.covers(parent_m[p], child_m[c])
        inside_area[c[covered]] = shapely.area(child_m[c[covered]])
        spill = c[~covered]
        if len(spill):
            diff = shapely.difference(child_m[spill], parent_m[pidx[spill]])
            inside_area[spill] = shapely.area(child_m[spill]) - shapely.area(diff)
            areas, widths, points = _significant(diff, tolerance_m)
            for n in np.flatnonzero(areas > 0).tolist():
                k = int(spill[n])
                area, width, at = float(areas[n]), float(widths[n]), points[n]
                share = area / max(float(shapely.area(child_m[k])), 1e-300)
                pcode = parent.codes[int(pidx[k])]
                out.append(
                    Problem(
                        "outside_parent",
                        lvl,
                        (child.codes[k], pcode),
                        f"{child.codes[k]} {child.names[k]}: {area:.0f} m² ({share:.1%}) lies "
                        f"outside its parent {pcode} {parent.names[int(pidx[k])]} "
                        f"(up to {width:.1f} m wide){_where(at, origin)}",
                        area,
                    )
                )

    # Gaps. The uncovered part of a parent is at most its area minus its children's areas
    # inside it plus their pairwise overlaps; a piece of area A is at most sqrt(A/pi) wide, so
    # parents whose bound is below pi*tolerance² cannot have a gap that counts.
    children_of: dict[int, list[int]] = {}
    for k in linked.tolist():
        children_of.setdefault(int(pidx[k]), []).append(k)
    parent_area = shapely.area(parent_m)
    limit = np.pi * tolerance_m**2
    for p_i in range(len(parent)):
        kids = children_of.get(p_i, [])
        bound = parent_area[p_i] - sum(inside_area[k] - overlap_of_child.get(k, 0.0) for k in kids)
        if bound <= limit:
            continue
        covered = shapely.union_all(child_m[kids]) if kids else shapely.Polygon()
        gap = shapely.difference(parent_m[p_i], covered)
        areas, widths, points = _significant(np.asarray([gap], dtype=object), tolerance_m)
        area, width, at = float(areas[0]), float(widths[0]), points[0]
        if area == 0.0:
            continue
        share = area / max(float(parent_area[p_i]), 1e-300)
        what = f"{len(kids)} children" if kids else "no children at all"
        out.append(
            Problem(
                "gap",
                lvl,
                (parent.codes[p_i],),
                f"{parent.codes[p_i]} {parent.names[p_i]}: {area:.0f} m² ({share:.1%}) covered by "
                f"none of its level {lvl} areas ({what}; up to {width:.1f} m wide)"
                f"{_where(at, origin)}",
                area,
            )
        )
    return out


def validate_grid(grid: Grid, *, tolerance_m: float = 1.0) -> list[Problem]:
    """Every problem with `grid`'s codes, geometries and nesting (see the module docstring).

    >>> from geo.layer import Layer
    >>> box = shapely.box
    >>> district = Layer(1, ["310101"], ["黄浦区"], [None], [box(121.40, 31.20, 121.42, 31.22)])
    >>> streets = Layer(2, ["310101001", "310101002"], ["西", "东"], ["310101"] * 2,
    ...                 [box(121.40, 31.20, 121.41, 31.22), box(121.41, 31.20, 121.43, 31.22)])
    >>> [(p.kind, p.codes) for p in validate_grid({1: district, 2: streets})]
    [('outside_parent', ('310101002', '310101'))]
    """
    if tolerance_m < 0:
        raise ValueError(f"tolerance_m must be >= 0, got {tolerance_m}")
    problems: list[Problem] = []
    levels = sorted(grid)
    all_geoms = np.concatenate([np.asarray(grid[lvl].geoms, dtype=object) for lvl in levels])
    present = all_geoms[~(shapely.is_missing(all_geoms) | shapely.is_empty(all_geoms))]
    if len(present) == 0:
        return [
            Problem("empty_geometry", lvl, tuple(grid[lvl].codes[:10]), "no geometry at all", 0)
            for lvl in levels
        ]
    origin = local_origin(present)
    projected: dict[int, GeomArray] = {}
    shared: dict[int, dict[int, float]] = {}
    for lvl in levels:
        layer = grid[lvl]
        upper = grid.get(lvl - 1)
        problems += _code_problems(layer, upper)
        geo_problems, usable = _geometry_problems(layer)
        problems += geo_problems
        projected[lvl] = to_local_metres(usable, origin)
        found, shared[lvl] = _overlaps(layer, projected[lvl], tolerance_m, origin)
        problems += found
        if upper is not None:
            problems += _nesting(
                layer, projected[lvl], upper, projected[lvl - 1], shared[lvl], tolerance_m, origin
            )
    return problems
