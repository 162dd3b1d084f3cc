"""The small city as the tests of the evaluation use it: a session on what a module's ``told``
fixture lays down, and ``engine``, the small city on SQLite and on PostgreSQL (rollup tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from tests.services import postgres_database
from tests.urbangrid.small_city import seed_small_city
from urbangrid.core.db import make_engine


@pytest.fixture
def session(told: str) -> Iterator[Session]:
    engine = make_engine(told)
    with Session(engine) as s:
        yield s
    engine.dispose()


def _database(kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('rollups') / 'rollups.db'}"
        seed_small_city(url)
        yield url
    else:
        with postgres_database() as url:
            seed_small_city(url)
            yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    for url in _database(request.param, tmp_path_factory):
        made = make_engine(url)
        yield made
        made.dispose()
