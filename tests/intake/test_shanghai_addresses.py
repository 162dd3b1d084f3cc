"""The real Shanghai address list as the gazetteer of a Shanghai grid, end to end: each address,
as given, with spaces, with full-width digits or without 上海市, placed through Open311's
address_string lands on its own point and in its own district; a made-up one is a 400."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from geo.generate import base_cells, communities
from geo.importers import read_layer
from geo.linking import link_parents
from intake.apikeys import create_key
from intake.app import create_app
from tests.conftest import seed_database
from urbangrid.cases.addresses import import_rows, read_file
from urbangrid.core.db import make_engine
from urbangrid.core.settings import Settings
from urbangrid.core.tables import Case
from urbangrid.domain.residents import distance_m

pytestmark = pytest.mark.slow

SAMPLE = 300  # addresses sent per way of writing them (the pure test covers all 20,723)
_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
VARIANTS = {
    "as given": (lambda a: a, 0.99),
    "spaces": (lambda a: " ".join(a), 0.95),
    "full-width digits": (lambda a: a.translate(_FULL_WIDTH), 0.95),
    "without 上海市": (lambda a: a.removeprefix("上海市"), 0.95),
}


@pytest.fixture(scope="module")
def shanghai_api(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, str, str, list[dict[str, str]]]]:
    folder = shared_data / "shanghai"
    districts, _ = read_layer(
        folder / "sh_districts_datav_wgs84_derived.geojson",
        level=1,
        code_field="adcode",
        name_field="name",
        crs="wgs84",
    )
    streets, _ = read_layer(
        folder / "sh_streets_wgs84_labelled.geojson",
        level=2,
        code_field="nbs_code",
        name_field="street_name",
        crs="wgs84",
    )
    streets, _ = link_parents(streets, districts)
    comms = communities(streets)
    grid = {1: districts, 2: streets, 3: comms, 4: base_cells(comms, cell_size_m=1000.0)}
    work = tmp_path_factory.mktemp("shanghai-api")
    url = f"sqlite:///{work / 'urbangrid.db'}"
    seed_database(url, grid)
    with (folder / "sh_covid2022_addresses_geocoded.csv").open(encoding="utf-8") as f:
        all_rows = list(csv.DictReader(f))
    rows = [r for r in all_rows if r["complete_address"]]
    engine = make_engine(url)
    with Session(engine) as session:
        # The list as published, its columns named as `urbangrid address import
        # --address-column complete_address --lon-column wgs84_lng --lat-column wgs84_lat` does.
        points, _, blank = read_file(
            folder / "sh_covid2022_addresses_geocoded.csv",
            names={"address": "complete_address", "lon": "wgs84_lng", "lat": "wgs84_lat"},
        )
        # Every row without a complete address is left out and counted, none other.
        assert len(blank) == len(all_rows) - len(rows)
        import_rows(session, points)
        session.commit()
        key = create_key(session, f"shanghai-{datetime.now(UTC).timestamp()}")
    engine.dispose()
    settings = Settings(
        database_url=url,
        var_dir=work / "var",
        rate_limit_per_minute=0,
        duplicate_radius_m=0,
        open311_rate_limit_per_minute=0,
    )
    with TestClient(create_app(settings)) as client:
        yield client, key, url, rows


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_real_addresses_are_placed_on_their_point_and_in_their_district(
    shanghai_api: tuple[TestClient, str, str, list[dict[str, str]]], variant: str
) -> None:
    client, key, url, rows = shanghai_api
    first: dict[str, dict[str, str]] = {}
    for r in rows:
        first.setdefault(r["complete_address"], r)
    sample = random.Random(14).sample(sorted(first), SAMPLE)
    write, needed = VARIANTS[variant]
    placed: dict[int, dict[str, str]] = {}
    for address in sample:
        answer = client.post(
            "/open311/v2/requests.json",
            data={"api_key": key, "service_code": "E0102", "address_string": write(address)},
        )
        if answer.status_code == 201:
            placed[int(answer.json()[0]["service_request_id"])] = first[address]
    engine = make_engine(url)
    within = 0
    with Session(engine) as session:
        for case_id, row in placed.items():
            case = session.get(Case, case_id)
            assert case is not None
            truth = float(row["wgs84_lat"]), float(row["wgs84_lng"])
            if distance_m(case.lat, case.lon, *truth) <= 1:
                within += 1
    engine.dispose()
    share = within / SAMPLE
    print(f"\n{variant}: {within} of {SAMPLE} placed within 1 m ({share:.1%})")
    assert share >= needed


def test_a_made_up_address_is_refused_naming_the_field(
    shanghai_api: tuple[TestClient, str, str, list[dict[str, str]]],
) -> None:
    client, key, _, _ = shanghai_api
    for made_up in ("上海市浦东新区火星路12345号", "上海市黄浦区人民大道99999号"):
        answer = client.post(
            "/open311/v2/requests.xml",
            data={"api_key": key, "service_code": "E0102", "address_string": made_up},
        )
        assert answer.status_code == 400 and "address_string" in answer.text
