"""A session on the small city that a module's ``told`` fixture lays down."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import Session

from urbangrid.core.db import make_engine


@pytest.fixture
def session(told: str) -> Iterator[Session]:
    engine = make_engine(told)
    with Session(engine) as s:
        yield s
    engine.dispose()
