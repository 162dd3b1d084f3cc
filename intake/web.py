"""The residents' web page at ``/``: plain HTML, CSS and JavaScript, no build step, no tiles.

The map is the city's own grid drawn as SVG from ``/api/v1/map`` (districts and streets,
simplified), so it needs nothing from the internet; a tap on it places the pin.
"""

from __future__ import annotations

import threading
from importlib import resources
from typing import Any

import shapely
from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel
from sqlmodel import Session

from intake.deps import SessionDep
from urbangrid.grids import active_version_id, load_grid

router = APIRouter()

_STATIC = resources.files("intake") / "static"
_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
# Everything the page needs comes from this server; photos are previewed from blob: URLs.
_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def _static(name: str) -> Response:
    return Response(
        (_STATIC / name).read_bytes(),
        media_type=_FILES[name],
        headers={
            "Content-Security-Policy": _CSP,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


@router.get("/", include_in_schema=False)
def index() -> Response:
    return _static("index.html")


@router.get("/static/{name}", include_in_schema=False)
def static(name: str) -> Response:
    if name not in _FILES or name == "index.html":
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    return _static(name)


class MapArea(BaseModel):
    code: str
    name: str
    level: int
    # Outer rings of the simplified polygon as [lon, lat] pairs, rounded to about a metre.
    rings: list[list[list[float]]]
    # Where the page writes the area's name: a point inside it, [lon, lat].
    label: list[float]


class CityMap(BaseModel):
    """The active grid's districts and streets, simplified for drawing the page's map."""

    version: int
    bbox: list[float]
    areas: list[MapArea]


_cache: dict[tuple[str, int], CityMap] = {}
_lock = threading.Lock()


def city_map(session: Session) -> CityMap:
    version = active_version_id(session)
    if version is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no grid is active yet")
    key = (str(session.get_bind().engine.url), version)
    with _lock:
        if key not in _cache:
            _cache.clear()
            _cache[key] = _build(version, load_grid(session, version, levels=(1, 2)))
        return _cache[key]


def _build(version: int, grid: Any) -> CityMap:
    areas = []
    bounds = [180.0, 90.0, -180.0, -90.0]
    for level, tolerance in ((2, 0.0004), (1, 0.0008)):
        layer = grid.get(level)
        if layer is None:
            continue
        for code, name, geom in zip(layer.codes, layer.names, layer.geoms, strict=True):
            simple = shapely.simplify(geom, tolerance, preserve_topology=True)
            polygons = getattr(simple, "geoms", [simple])
            rings = [
                [[round(x, 5), round(y, 5)] for x, y in polygon.exterior.coords]
                for polygon in polygons
                if not polygon.is_empty
            ]
            minx, miny, maxx, maxy = geom.bounds
            bounds = [
                min(bounds[0], minx),
                min(bounds[1], miny),
                max(bounds[2], maxx),
                max(bounds[3], maxy),
            ]
            anchor = shapely.point_on_surface(geom)
            label = [round(anchor.x, 5), round(anchor.y, 5)]
            areas.append(MapArea(code=code, name=name, level=level, rings=rings, label=label))
    return CityMap(version=version, bbox=[round(b, 5) for b in bounds], areas=areas)


@router.get("/api/v1/map", response_model=CityMap, tags=["map"])
def get_map(session: SessionDep) -> CityMap:
    """The service area's districts and streets for the page's map (no internet tiles)."""
    return city_map(session)
