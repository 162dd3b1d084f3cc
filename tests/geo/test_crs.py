from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely

from geo.crs import (
    METRES_PER_DEGREE,
    from_local_metres,
    from_wgs84,
    geometries_to_wgs84,
    to_local_metres,
    to_wgs84,
)


def metres(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    dx = (lon1 - lon2) * METRES_PER_DEGREE * np.cos(np.radians(lat1))
    dy = (lat1 - lat2) * METRES_PER_DEGREE
    return np.asarray(np.hypot(dx, dy))


def test_forward_matches_published_reference_values() -> None:
    # wandergis/coordtransform's documented results for (116.404, 39.915).
    lon, lat = from_wgs84([116.404], [39.915], "gcj02")
    assert lon[0] == pytest.approx(116.41024449916938, abs=1e-11)
    assert lat[0] == pytest.approx(39.91640428150164, abs=1e-11)
    # gcj02 -> bd09 of (116.404, 39.915): go to WGS84 first, then forward to BD-09.
    lon, lat = from_wgs84(*to_wgs84([116.404], [39.915], "gcj02"), "bd09")
    assert lon[0] == pytest.approx(116.41036949371029, abs=1e-8)
    assert lat[0] == pytest.approx(39.92133699351021, abs=1e-8)


def test_inverse_agrees_with_published_one_step_inverse_to_a_metre() -> None:
    # The reference's bd09 -> gcj02 and gcj02 -> wgs84 are one-step approximations.
    glon, glat = from_wgs84(*to_wgs84([116.404], [39.915], "bd09"), "gcj02")
    assert metres(glon, glat, np.array([116.39762729119315]), np.array([39.90865673957631]))[0] < 1
    wlon, wlat = to_wgs84([116.404], [39.915], "gcj02")
    assert metres(wlon, wlat, np.array([116.39775550083061]), np.array([39.91359571849836]))[0] < 2


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_round_trip_is_far_below_a_metre(crs: str) -> None:
    rng = np.random.default_rng(7)
    lon = rng.uniform(73.0, 135.0, 5000)
    lat = rng.uniform(18.0, 53.0, 5000)
    back = to_wgs84(*from_wgs84(lon, lat, crs), crs)
    assert metres(back[0], back[1], lon, lat).max() < 0.01
    shifted = from_wgs84(lon, lat, crs)
    assert metres(shifted[0], shifted[1], lon, lat).min() > 10  # it really is shifted


def test_shanghai_shift_is_hundreds_of_metres() -> None:
    lon, lat = from_wgs84([121.47], [31.23], "gcj02")
    assert 300 < metres(lon, lat, np.array([121.47]), np.array([31.23]))[0] < 700


def test_gcj02_outside_china_is_not_shifted() -> None:
    lon = np.array([2.35, -74.0, 151.2])
    lat = np.array([48.85, 40.7, -33.9])
    for result in (to_wgs84(lon, lat, "gcj02"), from_wgs84(lon, lat, "gcj02")):
        assert np.array_equal(result[0], lon)
        assert np.array_equal(result[1], lat)


def test_nan_stays_nan_and_shapes_must_match() -> None:
    lon, lat = to_wgs84([np.nan, 121.5], [31.2, np.nan], "gcj02")
    assert np.isnan(lon[0]) and np.isnan(lat[1])
    with pytest.raises(ValueError, match="differ in shape"):
        to_wgs84([1.0, 2.0], [1.0], "gcj02")


@pytest.mark.parametrize("bad", ["utm", "EPSG:3857", ""])
def test_unknown_crs_is_named(bad: str) -> None:
    with pytest.raises(ValueError, match=f"unknown coordinate system {bad!r}"):
        to_wgs84([121.0], [31.0], bad)
    with pytest.raises(ValueError, match="unknown coordinate system"):
        geometries_to_wgs84([shapely.Point(121, 31)], bad)


def test_crs_names_are_forgiving_about_case_and_dashes() -> None:
    a = to_wgs84([121.5], [31.2], "GCJ-02")
    b = to_wgs84([121.5], [31.2], "gcj02")
    assert a[0][0] == b[0][0]


def test_geometries_convert_vertex_by_vertex() -> None:
    poly = shapely.Polygon([(121.4, 31.2), (121.5, 31.2), (121.5, 31.3), (121.4, 31.2)])
    (out,) = geometries_to_wgs84([poly], "bd09")
    coords = shapely.get_coordinates(poly)
    lon, lat = to_wgs84(coords[:, 0], coords[:, 1], "bd09")
    assert np.allclose(shapely.get_coordinates(out), np.column_stack([lon, lat]), atol=0)
    assert out.is_valid


def test_local_metres_round_trip_and_scale() -> None:
    box = shapely.box(121.0, 31.0, 121.01, 31.01)
    m = to_local_metres([box], (121.0, 31.0))
    # 0.01° of latitude is 1112 m; of longitude at 31° N, 953 m.
    assert shapely.bounds(m)[0] == pytest.approx([0, 0, 953.1, 1111.9], abs=0.5)
    back = from_local_metres(m, (121.0, 31.0))
    assert shapely.equals_exact(back[0], box, tolerance=1e-12)


def test_geocoded_addresses_gcj02_columns_convert_onto_wgs84_columns(shared_data: Path) -> None:
    import csv

    with (shared_data / "shanghai" / "sh_covid2022_addresses_geocoded.csv").open(
        encoding="utf-8"
    ) as f:
        rows = list(csv.DictReader(f))
    g = np.array([[float(r["gcj02_lng"]), float(r["gcj02_lat"])] for r in rows])
    w = np.array([[float(r["wgs84_lng"]), float(r["wgs84_lat"])] for r in rows])
    lon, lat = to_wgs84(g[:, 0], g[:, 1], "gcj02")
    err = metres(lon, lat, w[:, 0], w[:, 1])
    # The file's WGS84 columns came from another converter (documented: ~1.25 m median).
    assert np.median(err) < 1.5
    assert np.percentile(err, 99) < 2.5
