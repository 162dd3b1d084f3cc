"""`urbangrid staff …`: accounts from the command line, tokens printed once, stored hashed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from intake.app import create_app
from tests.staffing import auth
from urbangrid.cases.staff import hash_token
from urbangrid.commands.main import main
from urbangrid.core.db import dispose_engines, make_engine
from urbangrid.core.settings import Settings, get_settings
from urbangrid.core.tables import Staff, StaffToken


@pytest.fixture
def runner(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("URBANGRID_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("URBANGRID_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()
    dispose_engines()


def test_staff_create_prints_a_working_token(
    runner: CliRunner, sqlite_url: str, tmp_path: Path
) -> None:
    created = runner.invoke(
        main, ["staff", "create", "wang.li", "--role", "department", "--scope", "sanitation"]
    )
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("ugs_") and len(token) > 40
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        account = session.exec(select(Staff).where(Staff.name == "wang.li")).one()
        assert (account.role, account.scope) == ("department", "department:sanitation")
        hashes = session.exec(
            select(StaffToken.token_hash).where(StaffToken.staff_id == account.id)
        )
        assert list(hashes) == [hash_token(token)]
    engine.dispose()
    settings = Settings(database_url=sqlite_url, var_dir=tmp_path / "var")
    with TestClient(create_app(settings)) as client:
        me = client.get("/api/v1/auth/me", headers=auth(token)).json()
        assert me == {"name": "wang.li", "role": "department", "scope": "department:sanitation"}
        listed = client.get("/api/v1/cases", headers=auth(token))
        assert listed.status_code == 200
        assert {i["department"] for i in listed.json()["items"]} <= {"sanitation"}

        revoked = runner.invoke(main, ["staff", "revoke", "wang.li"])
        assert revoked.exit_code == 0 and "revoked 1 tokens" in revoked.output
        assert client.get("/api/v1/auth/me", headers=auth(token)).status_code == 401


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "mayor", "--scope", "city"], "role: 'mayor' is not a role"),
        (["--role", "department", "--scope", "grid:310101"], "needs a department scope"),
        (["--role", "department", "--scope", "department:nobody"], "no department 'nobody'"),
        (["--role", "supervisor", "--scope", "grid:31x"], "code prefix of digits"),
    ],
)
def test_staff_create_refuses_bad_roles_and_scopes(
    runner: CliRunner, args: list[str], message: str
) -> None:
    refused = runner.invoke(main, ["staff", "create", "someone", *args])
    assert refused.exit_code == 1 and message in refused.output, refused.output
