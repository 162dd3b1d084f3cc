"""Fixtures of the worker tests: the intake fixtures, for tests that make their cases through the
API, and a session on the session's seeded database for those that make them directly."""

from collections.abc import Iterator

import pytest
from sqlmodel import Session

from tests.intake.conftest import client, make_client
from urbangrid.core.db import make_engine

__all__ = ["client", "make_client", "session"]


@pytest.fixture
def session(sqlite_url: str) -> Iterator[Session]:
    engine = make_engine(sqlite_url)
    with Session(engine, expire_on_commit=False) as opened:
        yield opened
    engine.dispose()
