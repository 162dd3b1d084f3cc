from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely

from geo.crs import to_wgs84
from geo.formats import GridImportError
from geo.importers import ImportReport, read_layer
from geo.layer import Layer
from geo.linking import fill_missing_codes, link_parents
from tests.geo.conftest import WriteFC, feature, layer

SQ = shapely.box(121.40, 31.20, 121.41, 31.21)


def read(
    path: Path,
    level: int = 2,
    *,
    code_field: str | None = "code",
    name_field: str | None = "name",
    crs: str = "wgs84",
) -> tuple[Layer, ImportReport]:
    return read_layer(path, level=level, code_field=code_field, name_field=name_field, crs=crs)


def test_features_sharing_a_code_become_one_area(write_fc: WriteFC) -> None:
    east = shapely.box(121.42, 31.20, 121.43, 31.21)
    path = write_fc(
        [
            feature({"code": "310115125", "name": "张江镇"}, SQ),
            feature(
                {"code": "310115001", "name": "花木街道"}, shapely.box(121.5, 31.2, 121.6, 31.3)
            ),
            feature({"code": "310115125", "name": "张江镇"}, east),
        ]
    )
    lay, report = read(path)
    assert lay.codes == ["310115125", "310115001"]
    merged = lay.geoms[0]
    assert merged.geom_type == "MultiPolygon"
    assert merged.area == pytest.approx(SQ.area + east.area)
    (issue,) = report.of_kind("merged")
    assert issue.code == "310115125" and "[0, 2]" in issue.detail
    assert report.n_features == 3 and report.n_areas == 2


def test_touching_parts_with_one_code_dissolve_into_one_polygon(write_fc: WriteFC) -> None:
    right = shapely.box(121.41, 31.20, 121.42, 31.21)
    path = write_fc([feature({"code": "310115125", "name": "a"}, g) for g in (SQ, right)])
    lay, _ = read(path)
    assert lay.geoms[0].geom_type == "Polygon"
    assert lay.geoms[0].area == pytest.approx(2 * SQ.area)


def test_conflicting_names_under_one_code_are_reported(write_fc: WriteFC) -> None:
    path = write_fc(
        [
            feature({"code": "310115125", "name": "张江镇"}, SQ),
            feature(
                {"code": "310115125", "name": "张江高科"}, shapely.box(121.5, 31.2, 121.6, 31.3)
            ),
        ]
    )
    lay, report = read(path)
    assert lay.names == ["张江镇"]
    (issue,) = report.of_kind("name_conflict")
    assert "张江高科" in issue.detail


def test_bow_tie_is_repaired_and_reported(write_fc: WriteFC) -> None:
    bow = {
        "type": "Polygon",
        "coordinates": [
            [[121.4, 31.2], [121.5, 31.3], [121.5, 31.2], [121.4, 31.3], [121.4, 31.2]]
        ],
    }
    path = write_fc([feature({"code": "310115125", "name": "蝴蝶"}, bow)])
    lay, report = read(path)
    geom = lay.geoms[0]
    assert geom.is_valid and geom.geom_type == "MultiPolygon"
    assert geom.area == pytest.approx(2 * 0.1 * 0.05 / 2)  # two triangles meeting at the crossing
    (issue,) = report.of_kind("repaired")
    assert issue.feature == 0 and "Self-intersection" in issue.detail


def test_a_polygon_with_no_area_is_unrepairable_and_left_out(write_fc: WriteFC) -> None:
    flat = {"type": "Polygon", "coordinates": [[[121.4, 31.2], [121.5, 31.2], [121.4, 31.2]]]}
    path = write_fc(
        [feature({"code": "310115001", "name": "ok"}, SQ), feature({"code": "310115002"}, flat)]
    )
    lay, report = read(path)
    assert lay.codes == ["310115001"]
    (issue,) = report.of_kind("unrepairable")
    assert issue.feature == 1


def test_missing_and_invalid_codes_are_reported_and_left_blank(write_fc: WriteFC) -> None:
    path = write_fc(
        [
            feature({"code": "310115125", "name": "a"}, SQ),
            feature({"name": "b"}, SQ),
            feature({"code": "", "name": "c"}, SQ),
            feature({"code": "31011", "name": "d"}, SQ),
        ]
    )
    lay, report = read(path)
    assert lay.codes == ["310115125", "", "", ""]
    assert report.missing_codes == [1, 2, 3]
    (invalid,) = report.of_kind("invalid_code")
    assert invalid.feature == 3 and "has 5 digits" in invalid.detail
    assert lay.source_ids == ["310115125", "", "", "31011"]


def test_points_and_lines_are_skipped_with_a_note(write_fc: WriteFC) -> None:
    path = write_fc(
        [
            feature({"code": "310115125", "name": "a"}, SQ),
            feature({"code": "310115126", "name": "b"}, shapely.Point(121.4, 31.2)),
            feature({"code": "310115127", "name": "c"}, None),
        ]
    )
    lay, report = read(path)
    assert lay.codes == ["310115125"]
    assert [i.feature for i in report.of_kind("not_polygon")] == [1]
    assert [i.feature for i in report.of_kind("no_geometry")] == [2]


def test_gcj02_input_is_converted_to_wgs84(write_fc: WriteFC) -> None:
    path = write_fc([feature({"code": "310101", "name": "黄浦区"}, SQ)])
    lay, _ = read(path, level=1, crs="gcj02")
    got = shapely.get_coordinates(lay.geoms[0])
    src = shapely.get_coordinates(SQ)
    lon, lat = to_wgs84(src[:, 0], src[:, 1], "gcj02")
    assert np.allclose(got, np.column_stack([lon, lat]), atol=1e-12)
    assert not np.allclose(got, src, atol=1e-3)


# -- malformed input: the message names file, feature and field ----------------------------


def test_not_json(write_fc: WriteFC) -> None:
    path = write_fc(raw='{"type": "FeatureCollection", "features": [')
    with pytest.raises(GridImportError, match=rf"{path.name}: not valid JSON \(line 1"):
        read(path)


def test_not_a_feature_collection(write_fc: WriteFC) -> None:
    path = write_fc(doc=feature({"code": "310115125"}, SQ))
    with pytest.raises(
        GridImportError, match="expected a GeoJSON FeatureCollection, found 'Feature'"
    ):
        read(path)
    path = write_fc(doc=[1, 2])
    with pytest.raises(GridImportError, match="found 'list'"):
        read(path)


def test_a_feature_that_is_not_a_feature(write_fc: WriteFC) -> None:
    path = write_fc([feature({"code": "310115125"}, SQ), {"type": "Polygon"}])
    with pytest.raises(GridImportError, match="feature 1 is not a GeoJSON Feature"):
        read(path)


def test_malformed_coordinates_name_the_feature(write_fc: WriteFC) -> None:
    broken = {"type": "Polygon", "coordinates": [[[121.4], [121.5, 31.2]]]}
    path = write_fc([feature({"code": "310115125"}, SQ), feature({"code": "310115126"}, broken)])
    with pytest.raises(GridImportError, match="feature 1: malformed geometry"):
        read(path)


def test_missing_field_names_the_field_and_lists_those_found(write_fc: WriteFC) -> None:
    path = write_fc([feature({"adcode": 310101, "name": "黄浦区"}, SQ)])
    with pytest.raises(
        GridImportError,
        match=r"no feature has the code field 'code' \(fields found: adcode, name\)",
    ):
        read(path)
    with pytest.raises(GridImportError, match="name field 'street_name'"):
        read(path, code_field="adcode", name_field="street_name", level=1)


def test_no_polygons_at_all(write_fc: WriteFC) -> None:
    path = write_fc([feature({"code": "310115125", "name": "a"}, shapely.Point(121.4, 31.2))])
    with pytest.raises(GridImportError, match="no feature has a polygon geometry"):
        read(path)
    with pytest.raises(GridImportError, match="has no features"):
        read(write_fc([]))


def test_no_such_file(tmp_path: Path) -> None:
    with pytest.raises(GridImportError, match="no such file"):
        read(tmp_path / "absent.geojson")


# -- shapefile and GeoPackage ---------------------------------------------------------------


def _write_ogr(path: Path, crs: str) -> None:
    import pyogrio.raw

    geoms = np.array([shapely.to_wkb(SQ), shapely.to_wkb(SQ.buffer(-0.001))], dtype=object)
    pyogrio.raw.write(
        path,
        geoms,
        [
            np.array(["310115125", "310115001"], dtype=object),
            np.array(["张江镇", "花木街道"], dtype=object),
        ],
        ["code", "name"],
        geometry_type="Polygon",
        crs=crs,
    )


@pytest.mark.parametrize("suffix", [".gpkg", ".shp"])
def test_geopackage_and_shapefile_are_read(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"streets{suffix}"
    _write_ogr(path, "EPSG:4326")
    lay, report = read(path)
    assert lay.codes == ["310115125", "310115001"]
    assert lay.names == ["张江镇", "花木街道"]
    assert lay.geoms[0].equals(SQ)
    assert report.issues == []


def test_a_file_gdal_cannot_read_is_an_import_error(tmp_path: Path) -> None:
    path = tmp_path / "streets.gpkg"
    path.write_text("not a database")
    with pytest.raises(GridImportError, match="cannot be read as a shapefile or GeoPackage"):
        read(path)


def test_projected_files_are_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "streets.gpkg"
    _write_ogr(path, "EPSG:3857")
    with pytest.raises(GridImportError, match="stored in EPSG:3857; reproject"):
        read(path)


# -- linking to parents ---------------------------------------------------------------------


def districts() -> Layer:
    return layer(
        1,
        ["310101", "310104"],
        [shapely.box(121.40, 31.20, 121.50, 31.30), shapely.box(121.50, 31.20, 121.60, 31.30)],
        names=["黄浦区", "徐汇区"],
    )


def test_child_goes_to_the_parent_it_overlaps_most_and_keeps_its_shape() -> None:
    spill = shapely.box(121.45, 31.22, 121.58, 31.25)  # 5 parts west, 8 parts east
    child = layer(2, [""], [spill], parents=[None], names=["跨界街道"])
    linked, found = link_parents(child, districts())
    assert linked.parents == ["310104"]
    assert linked.codes == ["310104001"]
    assert linked.geoms[0].equals(spill)  # unclipped
    (d,) = found
    assert d.kind == "partly_outside" and d.severity == "warning"
    assert d.child_code == "310104001" and d.parent_code == "310104"
    assert d.share_outside == pytest.approx(5 / 13, abs=0.01)


def test_small_spill_within_tolerance_is_not_reported() -> None:
    child = layer(2, ["310101001"], [shapely.box(121.41, 31.21, 121.501, 31.29)], parents=[None])
    linked, found = link_parents(child, districts(), tolerance_share=0.02)
    assert linked.parents == ["310101"] and found == []


def test_child_outside_every_parent_is_an_error_and_left_out() -> None:
    child = layer(
        2,
        ["310101001", ""],
        [shapely.box(121.41, 31.21, 121.42, 31.22), shapely.box(122.0, 31.0, 122.1, 31.1)],
        parents=[None, None],
        names=["内", "海上"],
    )
    linked, found = link_parents(child, districts())
    assert linked.codes == ["310101001"]
    (d,) = found
    assert d.kind == "no_parent" and d.severity == "error" and "海上" in d.detail


def test_given_code_disagreeing_with_the_parent_is_kept_and_reported() -> None:
    child = layer(2, ["310104003"], [shapely.box(121.41, 31.21, 121.42, 31.22)], parents=[None])
    linked, found = link_parents(child, districts())
    assert linked.codes == ["310104003"] and linked.parents == ["310101"]
    (d,) = found
    assert d.kind == "code_mismatch" and d.severity == "error"


def test_generated_codes_use_the_name_ranges_and_skip_given_ones() -> None:
    boxes = [shapely.box(121.40 + 0.02 * i, 31.21, 121.41 + 0.02 * i, 31.22) for i in range(4)]
    child = layer(
        2,
        ["310101001", "", "", ""],
        boxes,
        parents=[None] * 4,
        names=["外滩街道", "南京东路街道", "朱家角镇", "无名"],
    )
    linked, _ = link_parents(child, districts())
    assert linked.codes == ["310101001", "310101002", "310101100", "310101003"]


def test_fill_missing_codes_needs_parents_below_level_one() -> None:
    child = layer(2, [""], [SQ], parents=[None])
    with pytest.raises(ValueError, match="no code and no parent"):
        fill_missing_codes(child)
