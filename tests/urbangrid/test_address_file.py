"""An address library's CSV as cities export it: columns named the city's way."""

from __future__ import annotations

from pathlib import Path

import pytest

from urbangrid.cases.addresses import AddressFileError, read_file

EXPORT = (
    "district,address,complete_address,gcj02_lng,gcj02_lat,wgs84_lng,wgs84_lat\n"
    "浦东新区,张东路2281弄,上海市浦东新区张东路2281弄,121.63742,31.201487,121.6331938,31.20367194\n"
)
NAMES = {"address": "complete_address", "lon": "wgs84_lng", "lat": "wgs84_lat"}


def test_columns_are_read_under_the_names_given(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(EXPORT, encoding="utf-8")
    (row,), repeated, blank = read_file(path, names=NAMES)
    assert (row.address, row.lon, row.lat) == (
        "上海市浦东新区张东路2281弄",
        121.6331938,
        31.20367194,
    )
    # The file's other columns are kept with the point, its own "address" among them.
    assert row.extra["address"] == "张东路2281弄" and row.extra["gcj02_lng"] == "121.63742"
    assert "wgs84_lng" not in row.extra and (repeated, blank) == (0, [])


def test_a_missing_column_is_named_as_the_file_would_have_it(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(EXPORT, encoding="utf-8")
    with pytest.raises(AddressFileError, match="missing column\\(s\\) lon, lat"):
        read_file(path)
    with pytest.raises(AddressFileError, match="missing column\\(s\\) x_lng"):
        read_file(path, names={**NAMES, "lon": "x_lng"})
