"""The grid from the command line on real Shanghai boundaries: import, generate, validate."""

from __future__ import annotations

import csv
import io
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import ROOT, service_env


def urbangrid(var: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "urbangrid.commands.main", *args],
        env=service_env({"URBANGRID_VAR_DIR": str(var)}),
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
    )


def table_counts(var: Path) -> tuple[int, int]:
    with sqlite3.connect(var / "urbangrid.db") as db:
        versions = db.execute("select count(*) from grid_version").fetchone()[0]
        areas = db.execute("select count(*) from grid_area").fetchone()[0]
    return int(versions), int(areas)


@pytest.mark.slow
def test_shanghai_from_the_command_line(shared_data: Path, tmp_path: Path) -> None:
    var = tmp_path / "var"
    shanghai = shared_data / "shanghai"
    assert urbangrid(var, "db", "upgrade").returncode == 0

    # The published files, as the command line imports them.
    districts_args = (
        str(shanghai / "sh_districts_datav_wgs84_derived.geojson"),
        *("--level", "1", "--code-field", "adcode", "--name-field", "name"),
    )
    streets_args = (
        str(shanghai / "sh_streets_wgs84_labelled.geojson"),
        *("--level", "2", "--code-field", "nbs_code", "--name-field", "street_name"),
    )
    bad = tmp_path / "broken.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    refused = urbangrid(var, "grid", "import", str(bad), *districts_args[1:])
    assert refused.returncode != 0 and "not valid JSON" in refused.stderr
    refused = urbangrid(var, "grid", "import", *streets_args)
    assert refused.returncode != 0 and "needs level 1" in refused.stderr
    assert table_counts(var) == (0, 0)  # nothing half-written

    districts = urbangrid(var, "grid", "import", *districts_args)
    assert districts.returncode == 0, districts.stderr
    assert "imported 16 district areas" in districts.stdout
    streets = urbangrid(var, "grid", "import", *streets_args, "--create-offices")
    assert streets.returncode == 0, streets.stderr
    # 251 polygons, 14 names in two parts merged, 29 without a code given one.
    assert "imported 237 street areas" in streets.stdout
    assert "237 street offices" in streets.stdout
    with sqlite3.connect(var / "urbangrid.db") as db:
        offices = db.execute(
            "select d.code, d.name, a.name from department d join grid_area a"
            " on a.code = d.grid_code and a.level = 2 and a.version_id ="
            " (select id from grid_version where is_active) where d.kind = 'street_office'"
        ).fetchall()
    # One office per street of the new version, named after it: the 属地 fallback's department.
    assert len(offices) == 237
    assert all(
        code == f"so-{code[3:]}" and name == f"{street}办事处" for code, name, street in offices
    )
    assert "partly_outside" in streets.stdout  # real files do not nest perfectly: reported
    # Coarse levels keep the test quick; the 100 m default is exercised by the geo benchmark.
    assert (
        urbangrid(var, "grid", "generate", "--level", "3", "--community-area", "4000000").returncode
        == 0
    )
    cells = urbangrid(var, "grid", "generate", "--level", "4", "--cell-size", "1000")
    assert cells.returncode == 0, cells.stderr
    # The new version's index file is written with it, for every process to map.
    index_files = sorted((var / "grid-index").glob("*.idx"))
    assert any(f"index file: {f}" in cells.stdout for f in index_files), cells.stdout

    validated = urbangrid(var, "grid", "validate")
    assert validated.returncode == 1  # the real street layer leaves gaps and spills over
    assert "gap" in validated.stdout or "outside_parent" in validated.stdout

    rows = list(
        csv.DictReader((shanghai / "sh_covid2022_addresses_geocoded.csv").open(encoding="utf-8"))
    )[:3000]
    points = io.StringIO()
    writer = csv.writer(points)
    writer.writerow(["district", "street", "lon", "lat"])
    for row in rows:
        writer.writerow([row["district"], row["street_level"], row["wgs84_lng"], row["wgs84_lat"]])
    writer.writerow(["nowhere", "nowhere", "2.35", "48.85"])  # Paris
    assigned = urbangrid(var, "grid", "assign", "-", stdin=points.getvalue())
    assert assigned.returncode == 0, assigned.stderr
    out = list(csv.DictReader(io.StringIO(assigned.stdout)))
    assert len(out) == len(rows) + 1
    assert out[-1]["status"] == "outside" and out[-1]["l1_code"] == ""
    with sqlite3.connect(var / "urbangrid.db") as db:
        version = db.execute("select id from grid_version where is_active").fetchone()[0]
        names = dict(
            db.execute(
                "select code, name from grid_area where version_id = ? and level <= 2", (version,)
            )
        )
    ok = [r for r in out[:-1] if r["status"] == "ok"]
    assert len(ok) >= 0.99 * len(rows)
    for r in ok:
        assert r["l4_code"].startswith(r["l3_code"]) and r["l3_code"].startswith(r["l2_code"])
        assert r["l2_code"].startswith(r["l1_code"]) and len(r["l4_code"]) == 15
    street_ok = sum(names.get(r["l2_code"]) == r["street"] for r in out[:-1]) / len(rows)
    district_ok = sum(names.get(r["l1_code"]) == r["district"] for r in out[:-1]) / len(rows)
    assert street_ok >= 0.965 and district_ok >= 0.985, (street_ok, district_ok)

    bad_rows = urbangrid(var, "grid", "assign", "-", stdin="lon,lat\n121.4,north\n")
    assert bad_rows.returncode != 0 and "line 2" in bad_rows.stderr
