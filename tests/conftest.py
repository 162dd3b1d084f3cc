"""Shared fixtures: a seeded embedded database, a seeded PostGIS database, a RabbitMQ vhost."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from geo.layer import Grid
from tests.services import postgres_database, rabbitmq_vhost, services_required
from urbangrid.core.db import dispose_engines, make_engine
from urbangrid.core.migrate import upgrade


def real_data_folder() -> Path:
    """Where the real public data sets live: ``URBANGRID_TEST_DATA``, else ``../shared/data``.

    They are licensed for testing only, so the repository never holds them; a clone from a public
    host runs every other test and skips these, while CI (which has them) must run them.
    """
    configured = os.environ.get("URBANGRID_TEST_DATA")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    folder = real_data_folder()
    if not folder.is_dir():
        reason = f"real data sets not found at {folder} (set URBANGRID_TEST_DATA)"
        if services_required():
            pytest.fail(f"{reason}: CI must run the real-data tests", pytrace=False)
        pytest.skip(reason)
    return folder


@pytest.fixture(scope="session", autouse=True)
def shared_grid_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One grid index folder for the session's APIs and workers, as production's processes
    share one (``URBANGRID_GRID_INDEX_DIR``): the session's seeded databases have their index
    built once per test worker, not once per test (three seconds each). Tests of the index
    itself give their own folder, and child processes are started without the setting
    (``tests.processes.service_env``)."""
    previous = os.environ.get("URBANGRID_GRID_INDEX_DIR")
    os.environ["URBANGRID_GRID_INDEX_DIR"] = str(tmp_path_factory.mktemp("grid-index"))
    yield
    if previous is None:
        os.environ.pop("URBANGRID_GRID_INDEX_DIR", None)
    else:
        os.environ["URBANGRID_GRID_INDEX_DIR"] = previous


@pytest.fixture(scope="session")
def demo_grid() -> Grid:
    from geo.demo import demo_city

    return demo_city()


def seed_database(url: str, grid: Grid) -> None:
    """Migrate ``url`` and seed it with ``grid``, the starter taxonomy, departments and rules."""
    from urbangrid.cases.seed import seed_city

    upgrade(url)
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            seed_city(session, grid)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory, demo_grid: Grid) -> str:
    path = tmp_path_factory.mktemp("embedded") / "urbangrid.db"
    url = f"sqlite:///{path}"
    seed_database(url, demo_grid)
    return url


@pytest.fixture(scope="session")
def pg_url(demo_grid: Grid) -> Iterator[str]:
    with postgres_database() as url:
        seed_database(url, demo_grid)
        yield url
        dispose_engines()


@pytest.fixture
def amqp_url() -> Iterator[str]:
    with rabbitmq_vhost() as url:
        yield url


@pytest.fixture(scope="session")
def season_url(tmp_path_factory: pytest.TempPathFactory, demo_grid: Grid) -> str:
    """The embedded default with the demo city and a season of synthetic history up to now."""
    from urbangrid.core.columns import utcnow
    from urbangrid.core.grids import active_version_id
    from urbangrid.core.settings import Settings
    from urbangrid.history.store import seed_season

    url = f"sqlite:///{tmp_path_factory.mktemp('season') / 'urbangrid.db'}"
    seed_database(url, demo_grid)
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            version = active_version_id(session)
            assert version is not None
            seed_season(
                session, grid_version_id=version, now=utcnow(), settings=Settings(database_url=url)
            )
    finally:
        engine.dispose()
    return url
