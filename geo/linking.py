"""Link each grid level to the one above, and give codes to the areas that have none.

Linking (`link_parents`) follows one rule, which the rest of urbangrid relies on:

- **Parent = largest overlap.** Each child area belongs to the parent area it overlaps most (by
  area, measured in a local metric frame; ties go to the lowest parent code).
- **The child geometry is kept unclipped.** A child that spills over into a neighbouring parent
  keeps its full shape; the spill is reported as a discrepancy when it exceeds the tolerance share
  of the child's area, and a child that overlaps no parent at all is reported as an error and left
  out, since it has no place in the hierarchy.
- **A point's upper-level codes come from its leaf's parent chain**, never from a separate lookup
  per level. So a point in the spilled part of a street is in that street's district, even if the
  district polygon says otherwise: every point gets one consistent chain of four codes.

Children without a code get one generated under their chosen parent (`geo.codes.generate_codes`).
A given code that does not start with its chosen parent's code is kept (it is the authority's
code) and reported as an error-level discrepancy for a person to resolve.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import numpy.typing as npt
import shapely

from geo.codes import generate_codes
from geo.crs import local_origin, to_local_metres
from geo.layer import Layer

__all__ = ["Discrepancy", "fill_missing_codes", "link_parents"]

GeomArray = npt.NDArray[np.object_]


@dataclass(frozen=True)
class Discrepancy:
    """A child that does not sit cleanly in one parent (see the module docstring's rule).

    kind: partly_outside (warning), no_parent (error, child left out), code_mismatch (error).
    share_outside: share of the child's area outside the chosen parent (1.0 for no_parent).
    """

    kind: Literal["partly_outside", "no_parent", "code_mismatch"]
    level: int
    child_code: str
    parent_code: str | None
    share_outside: float
    severity: Literal["warning", "error"]
    detail: str


def fill_missing_codes(layer: Layer) -> Layer:
    """Generate codes for areas whose code is "" (districts: 900001..; others: under their parent).

    Areas below level 1 must already have their parent set (see `link_parents`).

    >>> sq = shapely.box(0, 0, 1, 1)
    >>> fill_missing_codes(Layer(1, ["", "310101"], ["a", "b"], [None, None], [sq, sq])).codes
    ['900001', '310101']
    """
    missing = [i for i, c in enumerate(layer.codes) if not c]
    if not missing:
        return layer
    codes = list(layer.codes)
    pts = shapely.point_on_surface(layer.geoms[np.asarray(missing, dtype=np.intp)])
    xs, ys = shapely.get_x(pts), shapely.get_y(pts)
    by_parent: dict[str | None, list[int]] = {}
    for k, i in enumerate(missing):
        by_parent.setdefault(layer.parents[i], []).append(k)
    for parent, ks in by_parent.items():
        if layer.level > 1 and parent is None:
            raise ValueError(
                f"level {layer.level} areas {[layer.names[missing[k]] for k in ks][:5]} "
                "have no code and no parent to number them under; link them first"
            )
        sel = np.asarray(ks, dtype=np.intp)
        new = generate_codes(
            parent,
            layer.level,
            xs[sel],
            ys[sel],
            names=[layer.names[missing[k]] for k in ks],
            existing=codes,
        )
        for k, code in zip(ks, new, strict=True):
            codes[missing[k]] = code
    return replace(layer, codes=codes)


def _overlaps(
    child_m: GeomArray, parent_m: GeomArray
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """(child index, parent index, overlap area m²) for every intersecting pair."""
    tree = shapely.STRtree(parent_m)
    ci, pj = tree.query(child_m, predicate="intersects")
    area = np.empty(len(ci), dtype=np.float64)
    # A parent covering the child outright (the usual case) needs no intersection computed.
    shapely.prepare(parent_m)
    inside = shapely.covers(parent_m[pj], child_m[ci])
    area[inside] = shapely.area(child_m[ci[inside]])
    rest = ~inside
    area[rest] = shapely.area(shapely.intersection(child_m[ci[rest]], parent_m[pj[rest]]))
    return ci.astype(np.intp), pj.astype(np.intp), area


def link_parents(
    child: Layer, parent: Layer, *, tolerance_share: float = 0.01
) -> tuple[Layer, list[Discrepancy]]:
    """Link each child area to the parent it overlaps most, generating missing child codes.

    Follows the rule in the module docstring. Returns the linked child layer (children that
    overlap no parent are left out) and the discrepancies: children more than `tolerance_share`
    of their area outside their parent, children overlapping no parent, and given codes that do not
    start with the chosen parent's code.

    >>> parent = Layer(1, ["310101", "310104"], ["黄浦区", "徐汇区"], [None, None],
    ...                [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)])
    >>> child = Layer(2, ["", ""], ["外滩街道", "徐家汇街道"], [None, None],
    ...               [shapely.box(0.1, 0.1, 0.9, 0.9), shapely.box(0.5, 0.2, 1.9, 0.8)])
    >>> linked, found = link_parents(child, parent)
    >>> linked.codes, linked.parents
    (['310101001', '310104001'], ['310101', '310104'])
    >>> [(d.kind, d.child_code, round(d.share_outside, 2)) for d in found]
    [('partly_outside', '310104001', 0.36)]
    """
    if child.level != parent.level + 1:
        raise ValueError(f"cannot link level {child.level} areas under level {parent.level}")
    if len(parent) == 0:
        raise ValueError(f"the level {parent.level} layer is empty")
    origin = local_origin(np.concatenate([parent.geoms, child.geoms]))
    child_m = to_local_metres(child.geoms, origin)
    parent_m = to_local_metres(parent.geoms, origin)
    ci, pj, area = _overlaps(child_m, parent_m)

    best = np.full(len(child), -1, dtype=np.intp)
    best_area = np.zeros(len(child), dtype=np.float64)
    # Largest overlap first; among equal overlaps the lowest parent code.
    parent_rank = np.argsort(np.argsort(np.asarray(parent.codes, dtype=object), kind="stable"))
    order = np.lexsort((parent_rank[pj], -area)) if len(ci) else np.empty(0, dtype=np.intp)
    seen = np.zeros(len(child), dtype=bool)
    for k in order:
        c = ci[k]
        if not seen[c] and area[k] > 0:
            seen[c] = True
            best[c] = pj[k]
            best_area[c] = area[k]

    child_area = shapely.area(child_m)
    kept = [c for c in range(len(child)) if best[c] >= 0]
    linked = child.take(kept)
    linked = fill_missing_codes(replace(linked, parents=[parent.codes[int(best[c])] for c in kept]))
    final_code = dict(zip(kept, linked.codes, strict=True))

    found: list[Discrepancy] = []
    for c in range(len(child)):
        name = child.names[c]
        if best[c] < 0:
            label = child.codes[c] or f"(no code: {name or 'unnamed'}, area #{c})"
            found.append(
                Discrepancy(
                    "no_parent",
                    child.level,
                    label,
                    None,
                    1.0,
                    "error",
                    f"{label} {name}: overlaps no level {parent.level} area; left out",
                )
            )
            continue
        code = final_code[c]
        p = int(best[c])
        outside = max(0.0, 1.0 - best_area[c] / child_area[c]) if child_area[c] > 0 else 0.0
        if outside > tolerance_share:
            found.append(
                Discrepancy(
                    "partly_outside",
                    child.level,
                    code,
                    parent.codes[p],
                    float(outside),
                    "warning",
                    f"{code} {name}: {outside:.1%} of its area lies outside its parent "
                    f"{parent.codes[p]} {parent.names[p]}",
                )
            )
        if not code.startswith(parent.codes[p]):
            found.append(
                Discrepancy(
                    "code_mismatch",
                    child.level,
                    code,
                    parent.codes[p],
                    float(outside),
                    "error",
                    f"{code} {name}: lies mostly in {parent.codes[p]} {parent.names[p]} "
                    f"but its code does not start with {parent.codes[p]}",
                )
            )
    return linked, found
