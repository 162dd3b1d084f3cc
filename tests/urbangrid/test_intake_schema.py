"""Migration 0003_intake builds exactly the tables and columns the models describe."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import urbangrid.core.tables  # noqa: F401  (registers every table)
from urbangrid.core.db import make_engine
from urbangrid.core.tables.cases import OPEN_NOT_DUPLICATE

MIGRATION = Path(__file__).resolve().parents[2] / "urbangrid/migrations/versions/0003_intake.py"
OURS = {"photo", "api_key", "idempotency_key", "notification", "major_class"}
OUR_COLUMNS = {"channel", "client_id", "contact", "address", "media_url", "duplicate_of", "active"}
OUR_INDEXES = {"ix_cases_duplicate_of", "ix_cases_open_nearby", "ix_case_events_at"}


def _mentions_ours(diff: Any) -> bool:
    text = repr(diff)
    return any(f"'{name}'" in text or f"<{name}>" in text for name in OURS) or any(
        f"'{name}'" in text for name in OUR_COLUMNS | OUR_INDEXES
    )


def test_the_partial_index_predicate_is_the_querys() -> None:
    spec = importlib.util.spec_from_file_location("migration_0003", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.OPEN_NOT_DUPLICATE == OPEN_NOT_DUPLICATE


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_migration_matches_the_models(database: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("sqlite_url" if database == "sqlite" else "pg_url")
    engine = make_engine(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diffs = [d for d in compare_metadata(context, SQLModel.metadata) if _mentions_ours(d)]
    engine.dispose()
    if database == "sqlite":
        # SQLite cannot add a foreign key to an existing table; there intake keeps the link.
        diffs = [d for d in diffs if not (d[0] == "add_fk" and "duplicate_of" in repr(d))]
    assert diffs == []
