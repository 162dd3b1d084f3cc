"""Reports near a street's boundary: which neighbouring street is within a margin of a point.

A resident standing on a boundary street taps a point a few metres one side or the other of the
line; GPS and map offsets are larger than that. A report that close to its street's (L2)
boundary is routed as usual, but the dispatcher is told which neighbouring street it may belong
to. Distances are measured in metres on a local plane around the point (``geo.crs``), which is
exact enough over tens of metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely

from geo.crs import METRES_PER_DEGREE
from geo.layer import Layer

__all__ = ["Neighbour", "StreetBoundaries"]


@dataclass(frozen=True)
class Neighbour:
    code: str  # the neighbouring street's L2 code
    name: str
    distance_m: float  # from the point to that street


@dataclass
class StreetBoundaries:
    """The streets of one grid version, indexed to find the neighbours of a point.

    >>> from geo.layer import Layer
    >>> west = shapely.box(121.40, 31.20, 121.41, 31.21)
    >>> east = shapely.box(121.41, 31.20, 121.42, 31.21)
    >>> streets = StreetBoundaries.build(
    ...     Layer(2, ["310101001", "310101002"], ["西", "东"], ["310101"] * 2, [west, east]))
    >>> streets.neighbour(121.4099, 31.205, "310101001", margin_m=30)  # about 10 m from east
    Neighbour(code='310101002', name='东', distance_m=9.5)
    >>> streets.neighbour(121.4079, 31.205, "310101001", margin_m=30) is None  # 200 m inside
    True
    """

    codes: list[str]
    names: list[str]
    geoms: np.ndarray
    tree: shapely.STRtree = field(repr=False)

    @classmethod
    def build(cls, layer: Layer) -> StreetBoundaries:
        if layer.level != 2:
            raise ValueError(f"street boundaries are of level 2, got level {layer.level}")
        geoms = np.asarray(layer.geoms, dtype=object)
        return cls(list(layer.codes), list(layer.names), geoms, shapely.STRtree(geoms))

    def neighbour(
        self, lon: float, lat: float, own_code: str, *, margin_m: float
    ) -> Neighbour | None:
        """The nearest street other than ``own_code`` within ``margin_m`` metres of the point,
        or None. On equal distances the lower code is named, so the answer is stable."""
        if margin_m <= 0 or not (np.isfinite(lon) and np.isfinite(lat)):
            return None
        dy = margin_m / METRES_PER_DEGREE
        dx = dy / max(float(np.cos(np.radians(lat))), 1e-6)
        window = shapely.box(lon - dx, lat - dy, lon + dx, lat + dy)
        best: tuple[float, str, str] | None = None
        # Only streets whose shape reaches into the window, not every street whose bounding
        # box does: most reports lie well inside their street and meet no other one here.
        for position in self.tree.query(window, predicate="intersects"):
            code = self.codes[int(position)]
            if code == own_code:
                continue
            metres = distance_m(self.geoms[int(position)], lon, lat)
            if metres <= margin_m and (best is None or (metres, code) < best[:2]):
                best = (metres, code, self.names[int(position)])
        if best is None:
            return None
        return Neighbour(code=best[1], name=best[2], distance_m=round(best[0], 1))


def distance_m(geom: shapely.Geometry, lon: float, lat: float) -> float:
    """Metres from the point (lon, lat) to ``geom`` (0 inside it), on a plane around the point.

    >>> round(distance_m(shapely.box(121.41, 31.20, 121.42, 31.21), 121.4099, 31.205), 1)
    9.5
    """
    sx = METRES_PER_DEGREE * float(np.cos(np.radians(lat)))
    sy = METRES_PER_DEGREE

    def local(coords: np.ndarray) -> np.ndarray:
        return np.column_stack([(coords[:, 0] - lon) * sx, (coords[:, 1] - lat) * sy])

    return float(shapely.distance(shapely.transform(geom, local), shapely.Point(0.0, 0.0)))
