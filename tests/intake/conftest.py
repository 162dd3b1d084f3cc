"""Fixtures of the intake tests: the API on the session's seeded database.

Tests share the database (its grid index takes seconds to build), so each places its reports
in cells of its own, and duplicates are looked for only where a test asks for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from intake.app import create_app
from urbangrid.core.settings import Settings

MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(sqlite_url: str, tmp_path: Path) -> Iterator[MakeClient]:
    """Start the API on the private database with settings overridden as given."""
    opened: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        values: dict[str, Any] = {
            "database_url": sqlite_url,
            "var_dir": tmp_path / "var",
            "rate_limit_per_minute": 0,
            "duplicate_radius_m": 0,
            **overrides,
        }
        client = TestClient(create_app(Settings(**values)))
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()


@pytest.fixture
def pg_client(pg_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """The API on the seeded PostgreSQL database (its one-statement submit path included)."""
    settings = Settings(
        database_url=pg_url,
        var_dir=tmp_path / "var",
        rate_limit_per_minute=0,
        duplicate_radius_m=0,
    )
    with TestClient(create_app(settings)) as client:
        yield client
