"""The boundary file formats a grid level is read from: GeoJSON (read here, as UTF-8 JSON), and
shapefiles and GeoPackages (through GDAL, by pyogrio). Each reader gives every feature's
properties and geometry, in file order, as the file stores them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

__all__ = ["GridImportError", "read_features"]

_GEOJSON_SUFFIXES = {".geojson", ".json"}

Features = tuple[list[dict[str, Any]], list[BaseGeometry | None]]


class GridImportError(ValueError):
    """The file cannot be read as a grid level; the message names file, feature and field."""


def read_features(path: Path, crs: str) -> Features:
    """Every feature's properties and geometry (None where it has none), in file order: GeoJSON
    by its suffix (.geojson, .json), anything else through GDAL. ``crs`` is what the caller says
    the coordinates are in, named when a file turns out to be stored otherwise.

    >>> import tempfile
    >>> point = {"type": "Point", "coordinates": [1, 2]}
    >>> doc = {"type": "FeatureCollection", "features": [
    ...     {"type": "Feature", "properties": {"name": "黄浦区"}, "geometry": point}]}
    >>> with tempfile.NamedTemporaryFile("w", suffix=".geojson", delete=False) as f:
    ...     _ = f.write(json.dumps(doc))
    >>> props, geoms = read_features(Path(f.name), "wgs84")
    >>> props, [g.wkt for g in geoms]
    ([{'name': '黄浦区'}], ['POINT (1 2)'])
    >>> read_features(Path(f.name + ".missing"), "wgs84")
    Traceback (most recent call last):
    ...
    geo.formats.GridImportError: ...: no such file
    """
    if not path.exists():
        raise GridImportError(f"{path}: no such file")
    if path.suffix.lower() in _GEOJSON_SUFFIXES:
        return _read_geojson(path)
    return _read_ogr(path, crs)


def _read_geojson(path: Path) -> tuple[list[dict[str, Any]], list[BaseGeometry | None]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GridImportError(f"{path}: not UTF-8 text ({exc})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GridImportError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        found = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
        raise GridImportError(f"{path}: expected a GeoJSON FeatureCollection, found {found!r}")
    features = doc.get("features")
    if not isinstance(features, list):
        raise GridImportError(f"{path}: the FeatureCollection has no 'features' list")
    props: list[dict[str, Any]] = []
    geoms: list[BaseGeometry | None] = []
    for i, feature in enumerate(features):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise GridImportError(f"{path}: feature {i} is not a GeoJSON Feature")
        p = feature.get("properties")
        if p is not None and not isinstance(p, dict):
            raise GridImportError(f"{path}: feature {i}: 'properties' is not an object")
        props.append(p or {})
        g = feature.get("geometry")
        if g is None:
            geoms.append(None)
            continue
        try:
            geoms.append(shape(g))
        except Exception as exc:  # shapely raises several types for malformed coordinates
            raise GridImportError(f"{path}: feature {i}: malformed geometry ({exc})") from None
    return props, geoms


def _read_ogr(path: Path, crs: str) -> tuple[list[dict[str, Any]], list[BaseGeometry | None]]:
    # GDAL is only needed for shapefiles and GeoPackages.
    from pyogrio.errors import DataLayerError, DataSourceError
    from pyogrio.raw import read

    try:
        meta, _fids, wkb, field_data = read(path)
    except (DataSourceError, DataLayerError) as exc:
        raise GridImportError(
            f"{path}: cannot be read as a shapefile or GeoPackage ({exc})"
        ) from None
    file_crs = str(meta.get("crs") or "")
    # pyogrio does not reproject; a projected file would be silently read as degrees otherwise.
    if file_crs and file_crs.upper() not in ("EPSG:4326", "OGC:CRS84", "EPSG:4490"):
        raise GridImportError(
            f"{path}: stored in {file_crs}; reproject to longitude/latitude first "
            f"(e.g. ogr2ogr -t_srs EPSG:4326), then import it as crs={crs!r}"
        )
    names = [str(n) for n in meta["fields"]]
    n = len(wkb)
    props = [{name: field_data[k][i] for k, name in enumerate(names)} for i in range(n)]
    geoms = [None if g is None else shapely.from_wkb(g) for g in wkb]
    return props, geoms
