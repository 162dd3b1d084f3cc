"""Baltimore's 311 sample imported: the API's on-time closure rate per agency equals the one
computed straight from the CSV, for every agency; importing again adds nothing."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from intake.app import create_app
from tests.processes import ROOT, service_env
from tests.services import postgres_database
from tests.staffing import auth, staff_token
from urbangrid.core.db import make_engine
from urbangrid.core.migrate import upgrade
from urbangrid.core.settings import Settings
from urbangrid.core.tables import Case, CaseEvent, Department
from urbangrid.domain.workflow import replay
from urbangrid.history.open311.cases import loop_events
from urbangrid.history.open311.mapping import MappingError, load_mapping, parse_mapping
from urbangrid.history.open311.rows import Row, read_rows

FORMAT = "%m/%d/%Y %I:%M:%S %p"
# Coordinates the export writes for "no location", as its SOURCE note says: filtered out.
PLACEHOLDER = (39.0, -77.0)


def independent_on_time(path: Path) -> dict[str, tuple[int, int]]:
    """Per agency: (closed on or before due, closed), read with nothing but csv and datetime."""
    found: dict[str, list[int]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if not row["SRStatus"].startswith("Closed"):
                continue
            try:
                place = (float(row["Latitude"]), float(row["Longitude"]))
            except ValueError:
                continue
            if place == PLACEHOLDER:
                continue
            closed = datetime.strptime(row["CloseDate"], FORMAT)
            due = datetime.strptime(row["DueDate"], FORMAT) if row["DueDate"] else None
            tally = found.setdefault(row["Agency"], [0, 0])
            tally[0] += int(due is not None and closed <= due)
            tally[1] += 1
    return {agency: (on_time, closed) for agency, (on_time, closed) in found.items()}


def run_import(url: str, csv_path: Path, var: Path) -> str:
    command = ["import", "open311-csv", str(csv_path), "--mapping", "baltimore"]
    done = subprocess.run(
        [sys.executable, "-m", "urbangrid.commands.main", *command],
        env=service_env({"URBANGRID_DATABASE_URL": url, "URBANGRID_VAR_DIR": str(var)}),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'history.db'}"
        upgrade(url)
        yield url
    else:
        with postgres_database() as url:
            upgrade(url)
            yield url


@pytest.mark.slow
def test_on_time_closure_per_agency_matches_the_csv(
    database: str, shared_data: Path, tmp_path: Path
) -> None:
    sample = shared_data / "baltimore" / "baltimore_311_sample_10k.csv"
    report = run_import(database, sample, tmp_path / "var")
    expected = independent_on_time(sample)
    imported = sum(closed for _, closed in expected.values())
    assert f"imported {imported:,} cases" in report, report

    settings = Settings(database_url=database, var_dir=tmp_path / "var")
    token = staff_token(make_engine(database), "admin", "city")
    with TestClient(create_app(settings), headers=auth(token)) as client:
        answer = client.get(
            "/api/v1/metrics/departments",
            params={"period": "2014-01-01..2019-12-31", "lang": "en"},
        )
        assert answer.status_code == 200, answer.text
        rows = {row["name"]: row for row in answer.json()["rows"]}
    assert set(rows) == set(expected)
    for agency, (on_time, closed) in expected.items():
        row = rows[agency]
        assert row["closed"] == closed, agency
        assert abs(row["on_time_closure_rate"] - on_time / closed) <= 0.001, (
            agency,
            row["on_time_closure_rate"],
            on_time / closed,
        )

    again = run_import(database, sample, tmp_path / "var")
    assert "imported 0 cases" in again and f"{imported:,} rows were imported before" in again
    engine = make_engine(database)
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(Case)).scalar_one() == imported
        assert session.execute(select(func.count()).select_from(Department)).scalar_one() == len(
            expected
        )
        # Every imported case's events replay to its state.
        states = dict(session.execute(select(Case.id, Case.state)).all())  # type: ignore[call-overload]
        steps: dict[int, list[tuple[str, str]]] = {}
        for case_id, action, role in session.execute(
            select(CaseEvent.case_id, CaseEvent.action, CaseEvent.role).order_by(  # type: ignore[call-overload]
                CaseEvent.case_id, CaseEvent.id
            )
        ):
            steps.setdefault(case_id, []).append((action, role))
        assert all(replay(steps[case]) == state for case, state in states.items())
    engine.dispose()


def test_a_void_status_keeps_the_report_out_of_every_rate() -> None:
    mapping = load_mapping("baltimore")
    row = Row(
        "1", "SW-Dirty Alley", "Solid Waste", "void", *([datetime.now()] * 3), 39.3, -76.6, ""
    )
    events = loop_events(row, "bmore-solid-waste", "import:baltimore")
    assert [e["action"] for e in events] == ["submit", "void"]
    assert replay((e["action"], e["role"]) for e in events) == "VOID"
    assert mapping.statuses["Closed (Duplicate)"] == "closed"


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"statuses": {"Closed": "finished"}}, "statuses.Closed"),
        ({"columns": {"id": "x"}}, "columns.type"),
        ({"source": "Baltimore City!"}, "source"),
        ({"categories": {"letter": "E"}}, "categories.letter"),
    ],
)
def test_a_bad_mapping_names_its_key(patch: dict[str, object], key: str) -> None:
    document: dict[str, object] = {
        "source": "x",
        "timezone": "UTC",
        "datetime_format": "%Y",
        "columns": {
            k: k
            for k in (
                "id",
                "type",
                "agency",
                "status",
                "created",
                "closed",
                "latitude",
                "longitude",
            )
        },
        "statuses": {"Closed": "closed"},
        **patch,
    }
    with pytest.raises(MappingError, match=key.replace(".", r"\.")):
        parse_mapping(document)


def test_a_misspelt_key_is_refused() -> None:
    columns = {
        k: k
        for k in ["id", "type", "agency", "status", "created", "closed", "latitude", "longitude"]
    }
    document = {
        "source": "x",
        "timezone": "UTC",
        "datetime_format": "%Y",
        "columns": {**columns, "deu": "DueDate"},
        "statuses": {"Closed": "closed"},
    }
    with pytest.raises(MappingError, match=r"columns\.deu"):
        parse_mapping(document)


def test_a_misspelt_optional_column_is_refused(tmp_path: Path) -> None:
    """The due column is optional in a mapping, but one it names must be in the file."""
    header = "ServiceRequestNum,SRType,Agency,SRStatus,CreatedDate,DueDate,CloseDate"
    header += ",Latitude,Longitude,Address"
    export = tmp_path / "export.csv"
    export.write_text(header.replace("DueDate", "Due_Date") + "\n", encoding="utf-8")
    with pytest.raises(MappingError, match="DueDate"):
        read_rows(export, load_mapping("baltimore"))
    export.write_text(header + "\n", encoding="utf-8")
    assert read_rows(export, load_mapping("baltimore"))[0] == []


def test_a_file_without_a_mapped_column_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text("ServiceRequestNum,SRType\n1,SW-Dirty Alley\n", encoding="utf-8")
    with pytest.raises(MappingError, match="Agency"):
        read_rows(broken, load_mapping("baltimore"))
