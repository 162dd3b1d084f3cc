"""``urbangrid categories load`` and ``urbangrid apikey …`` from the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from intake.apikeys import client_for, key_hash
from intake.app import create_app
from tests.processes import ROOT, service_env
from urbangrid.core.db import make_engine
from urbangrid.core.settings import Settings
from urbangrid.core.tables import ApiKey, Category, MajorClass


def urbangrid(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "urbangrid.commands.main", *args],
        env=service_env({"URBANGRID_DATABASE_URL": url}),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def empty_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert urbangrid(url, "db", "upgrade").returncode == 0
    return url


CITY = """
department_kinds:
  sanitation: {zh: 环卫, en: Sanitation}
  street_office: {zh: 街镇, en: Street / town office}
major_classes:
  event:
    "01": {zh: 市容环境, en: City appearance}
categories:
  - {code: E0102, zh: 暴露垃圾, en: Exposed rubbish, department: sanitation, limit: 2wh}
  - {code: E0199, zh: 沿街晾晒, en: Laundry hung on the street, department: street_office,
     limit: 1wd, verify: true}
"""


def test_categories_load_updates_adds_and_retires(empty_db: str, tmp_path: Path) -> None:
    starter = ROOT / "urbangrid" / "data" / "taxonomy.yaml"
    first = urbangrid(empty_db, "categories", "load", str(starter))
    assert first.returncode == 0, first.stderr
    assert "loaded 20 categories and 11 major classes" in first.stdout
    city = tmp_path / "city.yaml"
    city.write_text(CITY, encoding="utf-8")
    second = urbangrid(empty_db, "categories", "load", str(city))
    assert second.returncode == 0, second.stderr
    assert "retired (no longer offered, old cases keep them): C0101" in second.stdout
    engine = make_engine(empty_db)
    with Session(engine) as session:
        rubbish = session.get(Category, "E0102")
        laundry = session.get(Category, "E0199")
        manhole = session.get(Category, "C0101")
        assert rubbish is not None and rubbish.time_limit == "2wh" and rubbish.active
        assert laundry is not None and laundry.needs_verification and laundry.family == "event"
        assert manhole is not None and not manhole.active
        assert session.get(MajorClass, ("event", "01")) is not None
    engine.dispose()
    with TestClient(create_app(Settings(database_url=empty_db, var_dir=tmp_path))) as client:
        offered = client.get("/api/v1/categories").json()
        assert [c["code"] for c in offered] == ["E0102", "E0199"]
        assert offered[1]["major_name_en"] == "City appearance"
        assert [s["service_code"] for s in client.get("/open311/v2/services.json").json()] == [
            "E0102",
            "E0199",
        ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("categories: [{code: X1, department: a, limit: 1h}]", "categories[0].code"),
        (
            "department_kinds: {a: {zh: a, en: a}}\ncategories: [{code: E0101, department: a, "
            "limit: soon}]",
            "time limit 'soon'",
        ),
        ("categories: [{code: E0101, department: nobody, limit: 1h}]", "unknown department"),
        ("categories: [unclosed", "not valid YAML"),
    ],
)
def test_bad_taxonomy_is_refused_with_the_entry_named(
    tmp_path: Path, text: str, message: str
) -> None:
    from click.testing import CliRunner

    from intake.cli import categories

    bad = tmp_path / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    # Refused while reading the file, before any database is opened.
    answer = CliRunner().invoke(categories, ["load", str(bad)])
    assert answer.exit_code != 0 and message in answer.output, answer.output


def test_apikey_create_list_revoke(empty_db: str) -> None:
    created = urbangrid(empty_db, "apikey", "create", "FixMyStreet Shanghai")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("ug_") and len(key) > 40
    engine = make_engine(empty_db)
    with Session(engine) as session:
        stored = session.exec(select(ApiKey)).one()
        assert stored.key_hash == key_hash(key) and key not in stored.key_hash
        assert client_for(session, key) == "FixMyStreet Shanghai"
    assert urbangrid(empty_db, "apikey", "create", "FixMyStreet Shanghai").returncode != 0
    listed = urbangrid(empty_db, "apikey", "list").stdout
    assert "FixMyStreet Shanghai" in listed and key[:10] in listed and key not in listed
    assert urbangrid(empty_db, "apikey", "revoke", "FixMyStreet Shanghai").returncode == 0
    with Session(engine) as session:
        assert client_for(session, key) is None
    engine.dispose()
    assert urbangrid(empty_db, "apikey", "create", "FixMyStreet Shanghai").returncode == 0
