"""Coordinate systems met in Chinese city data, and a local metric frame for measuring.

urbangrid stores WGS84 (EPSG:4326). Amap, Tencent and DataV give GCJ-02, which sits 300-600 m off
WGS84 in Shanghai; Baidu gives BD-09 (GCJ-02 with a further shift). Intake and import name the
system explicitly and convert on the way in with `to_wgs84` / `geometries_to_wgs84`.

GCJ-02 follows the standard public algorithm (Krasovsky 1940 ellipsoid offsets). As in that
algorithm, points outside the rectangle it treats as China are returned unchanged by the GCJ-02
step; the BD-09 step is applied everywhere, as Baidu's published formula does. The inverse
directions have no closed form, so they are solved by fixed-point iteration until the forward
transform reproduces the input to about 1e-9 degree (0.1 mm), far tighter than the ~1 m the
formula itself is worth.

Measuring (areas, overlap shares, widths) uses `to_local_metres`: an equirectangular projection
around one reference point, linear in longitude and latitude so that straight edges stay straight
and shared vertices stay shared. Across a city (a degree of latitude) its scale error is under 1 %,
well inside the tolerances it is used for.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import shapely

__all__ = [
    "CRS_NAMES",
    "METRES_PER_DEGREE",
    "from_local_metres",
    "from_wgs84",
    "geometries_to_wgs84",
    "local_origin",
    "to_local_metres",
    "to_wgs84",
]

FloatArray = npt.NDArray[np.float64]
GeomArray = npt.NDArray[np.object_]

CRS_NAMES: tuple[str, ...] = ("wgs84", "gcj02", "bd09")

#: Metres per degree of latitude (mean Earth radius 6,371,008.8 m); also per degree of longitude
#: at the equator. Used only for local measuring, never for storage.
METRES_PER_DEGREE = 6_371_008.8 * np.pi / 180.0

# Krasovsky 1940 ellipsoid, as the GCJ-02 formula uses it.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0
_MAX_ITER = 30
_TOL_DEG = 1e-9


def _check_crs(crs: str) -> str:
    name = crs.strip().lower().replace("-", "").replace("_", "")
    if name not in CRS_NAMES:
        raise ValueError(
            f"unknown coordinate system {crs!r}; expected one of {', '.join(CRS_NAMES)}"
        )
    return name


def _lon_lat(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    lon = np.asarray(x, dtype=np.float64)
    lat = np.asarray(y, dtype=np.float64)
    if lon.shape != lat.shape:
        raise ValueError(f"x and y differ in shape: {lon.shape} vs {lat.shape}")
    return lon, lat


def _outside_china(lon: FloatArray, lat: FloatArray) -> npt.NDArray[np.bool_]:
    # The rectangle of the original public GCJ-02 implementation (eviltransform).
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _gcj_offset(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 minus WGS84 at WGS84 (lon, lat), zero outside China."""
    x = lon - 105.0
    y = lat - 35.0
    sx = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx + common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx + common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    outside = _outside_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def _wgs84_to_gcj02(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def _gcj02_to_bd09(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd09_to_gcj02_approx(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    x = lon - 0.0065
    y = lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _invert(
    forward: Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]],
    lon: FloatArray,
    lat: FloatArray,
    start: tuple[FloatArray, FloatArray],
) -> tuple[FloatArray, FloatArray]:
    # Fixed-point iteration x <- x - (f(x) - target). Both shifts are small and smooth (Jacobian
    # within 1e-4 of identity), so each step gains about four digits; a handful of steps suffice.
    gx, gy = start
    for _ in range(_MAX_ITER):
        fx, fy = forward(gx, gy)
        ex = fx - lon
        ey = fy - lat
        gx = gx - ex
        gy = gy - ey
        err = np.nanmax(np.abs(np.concatenate([ex.ravel(), ey.ravel()])), initial=0.0)
        if err < _TOL_DEG:
            break
    return gx, gy


def to_wgs84(x: npt.ArrayLike, y: npt.ArrayLike, crs: str) -> tuple[FloatArray, FloatArray]:
    """Convert longitudes `x` and latitudes `y` given in `crs` ("wgs84", "gcj02", "bd09") to WGS84.

    Vectorised over arrays; NaN stays NaN. Points outside China are not shifted by the GCJ-02 step.

    >>> lon, lat = to_wgs84([121.63742], [31.201487], "gcj02")   # an Amap point in Zhangjiang
    >>> print(f"{lon[0]:.5f} {lat[0]:.5f}")
    121.63320 31.20368
    >>> to_wgs84([2.35], [48.85], "gcj02")[0].tolist()            # Paris: outside China, unchanged
    [2.35]
    >>> to_wgs84([121.5], [31.2], "utm")
    Traceback (most recent call last):
    ...
    ValueError: unknown coordinate system 'utm'; expected one of wgs84, gcj02, bd09
    """
    name = _check_crs(crs)
    lon, lat = _lon_lat(x, y)
    if name == "wgs84":
        return lon.copy(), lat.copy()
    if name == "bd09":
        lon, lat = _invert(_gcj02_to_bd09, lon, lat, _bd09_to_gcj02_approx(lon, lat))
    dlon, dlat = _gcj_offset(lon, lat)
    return _invert(_wgs84_to_gcj02, lon, lat, (lon - dlon, lat - dlat))


def from_wgs84(x: npt.ArrayLike, y: npt.ArrayLike, crs: str) -> tuple[FloatArray, FloatArray]:
    """Convert WGS84 longitudes `x` and latitudes `y` to `crs` (the forward, closed-form direction).

    >>> lon, lat = from_wgs84([116.404], [39.915], "gcj02")
    >>> print(f"{lon[0]:.8f} {lat[0]:.8f}")
    116.41024450 39.91640428
    """
    name = _check_crs(crs)
    lon, lat = _lon_lat(x, y)
    if name == "wgs84":
        return lon.copy(), lat.copy()
    lon, lat = _wgs84_to_gcj02(lon, lat)
    if name == "bd09":
        lon, lat = _gcj02_to_bd09(lon, lat)
    return lon, lat


def geometries_to_wgs84(geoms: npt.ArrayLike, crs: str) -> GeomArray:
    """Convert an array of shapely geometries from `crs` to WGS84 vertex by vertex.

    >>> g = geometries_to_wgs84([shapely.Point(121.63742, 31.201487)], "gcj02")
    >>> print(shapely.get_x(g).round(4), shapely.get_y(g).round(4))
    [121.6332] [31.2037]
    """
    name = _check_crs(crs)
    arr = np.asarray(geoms, dtype=object)
    if name == "wgs84":
        return arr.copy()

    def convert(coords: FloatArray) -> FloatArray:
        lon, lat = to_wgs84(coords[:, 0], coords[:, 1], name)
        return np.column_stack([lon, lat])

    out: GeomArray = np.asarray(shapely.transform(arr, convert), dtype=object)
    return out


def local_origin(geoms: npt.ArrayLike) -> tuple[float, float]:
    """A reference (lon, lat) for `to_local_metres`: the centre of the geometries' joint bbox.

    >>> local_origin([shapely.box(121.0, 31.0, 122.0, 32.0)])
    (121.5, 31.5)
    """
    b = shapely.bounds(np.asarray(geoms, dtype=object).reshape(-1))
    if b.size == 0 or np.all(np.isnan(b)):
        raise ValueError("no geometry to take a local origin from")
    return (
        float((np.nanmin(b[:, 0]) + np.nanmax(b[:, 2])) / 2.0),
        float((np.nanmin(b[:, 1]) + np.nanmax(b[:, 3])) / 2.0),
    )


def _scale(origin: tuple[float, float]) -> tuple[float, float]:
    return METRES_PER_DEGREE * float(np.cos(np.radians(origin[1]))), METRES_PER_DEGREE


def to_local_metres(geoms: npt.ArrayLike, origin: tuple[float, float]) -> GeomArray:
    """Geometries in metres east/north of `origin` (lon, lat), for measuring areas and widths.

    >>> sq = to_local_metres([shapely.box(121.0, 31.0, 121.001, 31.001)], (121.0, 31.0))
    >>> round(float(shapely.area(sq)[0]))  # about 95 m x 111 m
    10598
    """
    sx, sy = _scale(origin)
    arr = np.asarray(geoms, dtype=object)

    def project(coords: FloatArray) -> FloatArray:
        return np.column_stack([(coords[:, 0] - origin[0]) * sx, (coords[:, 1] - origin[1]) * sy])

    out: GeomArray = np.asarray(shapely.transform(arr, project), dtype=object)
    return out


def from_local_metres(geoms: npt.ArrayLike, origin: tuple[float, float]) -> GeomArray:
    """Inverse of `to_local_metres`: back to longitude/latitude.

    >>> there = to_local_metres([shapely.Point(121.3, 31.1)], (121.0, 31.0))
    >>> g = from_local_metres(there, (121.0, 31.0))
    >>> print(round(float(shapely.get_x(g)[0]), 9), round(float(shapely.get_y(g)[0]), 9))
    121.3 31.1
    """
    sx, sy = _scale(origin)
    arr = np.asarray(geoms, dtype=object)

    def unproject(coords: FloatArray) -> FloatArray:
        return np.column_stack([coords[:, 0] / sx + origin[0], coords[:, 1] / sy + origin[1]])

    out: GeomArray = np.asarray(shapely.transform(arr, unproject), dtype=object)
    return out
