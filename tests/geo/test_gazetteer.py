"""The gazetteer on the 26,105 real Shanghai addresses: written as given, with spaces, with
full-width digits or without the city's name, each finds its own point; a made-up one none."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from geo.gazetteer import AddressPoint, Gazetteer, normalise
from urbangrid.domain.residents import distance_m

_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
VARIANTS = {
    "as given": lambda a: a,
    "spaces": lambda a: " ".join(a),
    "full-width digits": lambda a: a.translate(_FULL_WIDTH),
    "without 上海市": lambda a: a.removeprefix("上海市"),
}


@pytest.fixture(scope="module")
def shanghai(shared_data: Path) -> tuple[Gazetteer, dict[str, tuple[float, float]]]:
    """The gazetteer of each address's first row (the rule of ``urbangrid address import``)."""
    with (shared_data / "shanghai" / "sh_covid2022_addresses_geocoded.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 26_105
    first: dict[str, tuple[float, float]] = {}
    for row in rows:
        first.setdefault(
            row["complete_address"], (float(row["wgs84_lng"]), float(row["wgs84_lat"]))
        )
    points = [AddressPoint(str(n), a, lon, lat) for n, (a, (lon, lat)) in enumerate(first.items())]
    return Gazetteer.build(points), first


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_real_addresses_find_their_point(
    shanghai: tuple[Gazetteer, dict[str, tuple[float, float]]], variant: str
) -> None:
    gazetteer, first = shanghai
    write = VARIANTS[variant]
    within = 0
    for address, (lon, lat) in first.items():
        match = gazetteer.find(write(address))
        if match is not None and distance_m(match.point.lat, match.point.lon, lat, lon) <= 1:
            within += 1
    share = within / len(first)
    print(f"\n{variant}: {within:,} of {len(first):,} within 1 m ({share:.2%})")
    assert share >= (0.99 if variant == "as given" else 0.95)


def test_the_districts_are_learnt_and_made_up_addresses_found_nowhere(
    shanghai: tuple[Gazetteer, dict[str, tuple[float, float]]],
) -> None:
    gazetteer, _ = shanghai
    assert len(gazetteer.districts) == 16 and "浦东新区" in gazetteer.districts
    for made_up in ("上海市浦东新区火星路12345号", "月球基地1号", "上海市静安区沪太路6041号"):
        assert gazetteer.find(made_up) is None, made_up
    # A typo in the road's name is forgiven; a different house number never is.
    typo = gazetteer.find("上海市浦东新区张东路2281弄".replace("张东", "张冬"))
    assert (
        typo is not None and typo.method == "fuzzy" and typo.point.address.endswith("张东路2281弄")
    )
    assert gazetteer.find("上海市浦东新区张东路2283弄") is None


def test_house_numbers_in_chinese_and_traditional_characters() -> None:
    assert normalise("上海市黄浦区蓬莱路二百八十四號") == normalise("黄浦区蓬莱路284号")
    assert normalise("静安区沪太路 ０６０４０ 号３幢") == "静安区沪太路6040号3栋"
