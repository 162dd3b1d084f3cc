"""Import boundary files as grid levels, and link each level to the one above.

Reading (`read_layer`) turns one GeoJSON, shapefile or GeoPackage into a `Layer`: coordinates are
converted to WGS84 from the coordinate system the caller names, invalid polygons are repaired,
features sharing a code become one area (a street in two parts is one street), and everything the
importer had to do or could not do is listed in an `ImportReport`, feature by feature. Input that
cannot be a grid level at all raises `GridImportError` naming the file, feature and field.

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

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from geo.codes import CodeError, generate_codes, normalize_code
from geo.crs import geometries_to_wgs84, local_origin, to_local_metres
from geo.layer import Layer

__all__ = [
    "Discrepancy",
    "GridImportError",
    "ImportIssue",
    "ImportReport",
    "fill_missing_codes",
    "link_parents",
    "polygonal_part",
    "read_layer",
]

GeomArray = npt.NDArray[np.object_]

_GEOJSON_SUFFIXES = {".geojson", ".json"}
_POLYGONAL = {"Polygon", "MultiPolygon"}


class GridImportError(ValueError):
    """The file cannot be read as a grid level; the message names file, feature and field."""


@dataclass(frozen=True)
class ImportIssue:
    """One thing the importer did to, or could not do with, a feature or area.

    kind is one of: missing_code, invalid_code, missing_name, name_conflict, merged, repaired,
    unrepairable, not_polygon, no_geometry.
    """

    kind: str
    feature: int | None
    code: str | None
    detail: str


@dataclass
class ImportReport:
    """What `read_layer` found: counts and the list of issues, feature by feature."""

    path: str
    level: int
    n_features: int = 0
    n_areas: int = 0
    issues: list[ImportIssue] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[ImportIssue]:
        """The issues of one kind, in file order."""
        return [issue for issue in self.issues if issue.kind == kind]

    @property
    def missing_codes(self) -> list[int]:
        """Indices (in the file) of features that had no usable code."""
        return [
            i.feature
            for i in self.issues
            if i.kind in ("missing_code", "invalid_code") and i.feature is not None
        ]

    def summary(self) -> str:
        """One line: counts per issue kind."""
        counts: dict[str, int] = {}
        for issue in self.issues:
            counts[issue.kind] = counts.get(issue.kind, 0) + 1
        listed = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no issues"
        return (
            f"{self.path}: level {self.level}, {self.n_features} features -> "
            f"{self.n_areas} areas; {listed}"
        )


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


def polygonal_part(geom: BaseGeometry | None) -> BaseGeometry | None:
    """The polygonal part of a geometry (Polygon or MultiPolygon), None if it has none.

    >>> line = shapely.LineString([(0, 0), (5, 5)])
    >>> mixed = shapely.GeometryCollection([shapely.box(0, 0, 1, 1), line])
    >>> polygonal_part(mixed).wkt
    'POLYGON ((1 0, 1 1, 0 1, 0 0, 1 0))'
    >>> polygonal_part(shapely.Point(0, 0)) is None
    True
    """
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type in _POLYGONAL:
        return geom
    if geom.geom_type in ("GeometryCollection", "MultiPolygon"):
        polys: list[BaseGeometry] = []
        for part in shapely.get_parts(geom):
            sub = polygonal_part(part)
            if sub is not None:
                polys.extend(shapely.get_parts(sub))
        if not polys:
            return None
        return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)
    return None


# -- reading ----------------------------------------------------------------------------------


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


def _clean_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _check_field(path: Path, props: Sequence[Mapping[str, Any]], name: str, role: str) -> None:
    if any(name in p for p in props):
        return
    seen: dict[str, None] = {}
    for p in props:
        seen.update(dict.fromkeys(p))
    available = ", ".join(list(seen)[:20]) or "none"
    raise GridImportError(
        f"{path}: no feature has the {role} field {name!r} (fields found: {available})"
    )


def read_layer(
    path: str | Path,
    *,
    level: int,
    code_field: str | None,
    name_field: str | None,
    crs: str,
    id_field: str | None = None,
) -> tuple[Layer, ImportReport]:
    """Read one grid level from a GeoJSON, shapefile or GeoPackage file.

    Coordinates are converted from `crs` ("wgs84", "gcj02", "bd09") to WGS84. Features with the
    same code are merged into one area; features without a usable code keep code "" (to be
    generated by `link_parents` or `fill_missing_codes`). Parents are left as None. `source_ids`
    keeps each area's raw identifier from `id_field` (default: the code field).

    >>> import tempfile
    >>> ring = [[121.4, 31.2], [121.5, 31.2], [121.5, 31.3], [121.4, 31.2]]
    >>> sq = {"type": "Polygon", "coordinates": [ring]}
    >>> doc = {"type": "FeatureCollection", "features": [
    ...     {"type": "Feature", "properties": {"adcode": 310101, "name": "黄浦区"}, "geometry": sq},
    ...     {"type": "Feature", "properties": {"name": "无码区"}, "geometry": sq}]}
    >>> with tempfile.NamedTemporaryFile("w", suffix=".geojson", delete=False) as f:
    ...     _ = f.write(json.dumps(doc))
    >>> layer, report = read_layer(
    ...     f.name, level=1, code_field="adcode", name_field="name", crs="wgs84")
    >>> layer.codes, layer.names, report.missing_codes
    (['310101', ''], ['黄浦区', '无码区'], [1])
    """
    p = Path(path)
    if not p.exists():
        raise GridImportError(f"{p}: no such file")
    if p.suffix.lower() in _GEOJSON_SUFFIXES:
        props, raw = _read_geojson(p)
    else:
        props, raw = _read_ogr(p, crs)
    report = ImportReport(path=str(p), level=level, n_features=len(raw))
    if not raw:
        raise GridImportError(f"{p}: the file has no features")
    for fname, role in ((code_field, "code"), (name_field, "name"), (id_field, "id")):
        if fname is not None:
            _check_field(p, props, fname, role)

    # Keep the polygonal part of each feature; anything else cannot be a grid area.
    keep: list[int] = []  # file index of each polygonal feature
    geoms: list[BaseGeometry] = []
    for i, g in enumerate(raw):
        if g is None or g.is_empty:
            report.issues.append(ImportIssue("no_geometry", i, None, "feature has no geometry"))
            continue
        poly = polygonal_part(g)
        if poly is None:
            report.issues.append(
                ImportIssue("not_polygon", i, None, f"{g.geom_type} is not an area; skipped")
            )
            continue
        keep.append(i)
        geoms.append(poly)
    if not keep:
        raise GridImportError(f"{p}: no feature has a polygon geometry")

    wgs = geometries_to_wgs84(np.asarray(geoms, dtype=object), crs)
    valid = shapely.is_valid(wgs)
    for j in (int(v) for v in np.flatnonzero(~valid)):
        reason = shapely.is_valid_reason(wgs[j])
        # make_valid may return lines or points along with the polygons (a bow-tie's crossing);
        # only the polygonal part is an area.
        fixed = polygonal_part(shapely.make_valid(wgs[j]))
        if fixed is None or fixed.area == 0:
            report.issues.append(
                ImportIssue("unrepairable", keep[j], None, f"invalid ({reason}), nothing left")
            )
            wgs[j] = None
        else:
            report.issues.append(
                ImportIssue("repaired", keep[j], None, f"invalid ({reason}); made valid")
            )
            wgs[j] = fixed

    # Group features by code; "" (no usable code) never merges.
    groups: dict[str, list[int]] = {}
    area_keys: list[tuple[str, list[int]]] = []
    for k, i in enumerate(keep):
        if wgs[k] is None:
            continue
        code = ""
        value = _clean_value(props[i].get(code_field)) if code_field is not None else None
        if code_field is not None and value is None:
            report.issues.append(ImportIssue("missing_code", i, None, f"no {code_field!r} value"))
        elif value is not None:
            try:
                code = normalize_code(value, level)
            except CodeError as exc:
                report.issues.append(ImportIssue("invalid_code", i, None, str(exc)))
        if code:
            if code not in groups:
                groups[code] = []
                area_keys.append((code, groups[code]))
            groups[code].append(k)
        else:
            area_keys.append(("", [k]))

    codes: list[str] = []
    names: list[str] = []
    sources: list[str] = []
    out_geoms: list[BaseGeometry] = []
    id_key = id_field if id_field is not None else code_field
    for code, members in area_keys:
        feature_ids = [keep[k] for k in members]
        member_names = [
            str(v)
            for v in (
                _clean_value(props[i].get(name_field)) if name_field else None for i in feature_ids
            )
            if v is not None
        ]
        name = member_names[0] if member_names else ""
        if not member_names and name_field is not None:
            report.issues.append(
                ImportIssue("missing_name", feature_ids[0], code or None, f"no {name_field!r}")
            )
        if len(set(member_names)) > 1:
            report.issues.append(
                ImportIssue(
                    "name_conflict",
                    feature_ids[0],
                    code,
                    f"features {feature_ids} share the code but are named "
                    f"{sorted(set(member_names))}; kept {name!r}",
                )
            )
        if len(members) > 1:
            merged = polygonal_part(shapely.union_all(wgs[members]))
            report.issues.append(
                ImportIssue("merged", feature_ids[0], code, f"features {feature_ids} form one area")
            )
        else:
            merged = wgs[members[0]]
        assert merged is not None  # a union of non-empty polygons is non-empty
        raw_ids = [
            str(v)
            for v in (_clean_value(props[i].get(id_key)) if id_key else None for i in feature_ids)
            if v is not None
        ]
        codes.append(code)
        names.append(name)
        sources.append(";".join(dict.fromkeys(raw_ids)))
        out_geoms.append(merged)

    geom_arr = np.empty(len(out_geoms), dtype=object)
    geom_arr[:] = out_geoms
    layer = Layer(
        level=level,
        codes=codes,
        names=names,
        parents=[None] * len(codes),
        geoms=geom_arr,
        source_ids=sources if id_key is not None else None,
    )
    report.n_areas = len(layer)
    return layer, report


# -- linking ----------------------------------------------------------------------------------


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
