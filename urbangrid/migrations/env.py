"""Alembic environment: migrates whichever database the settings (or the caller) name."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

# Every table on the metadata: the core's, and the summaries, whose columns are the counts.
import urbangrid.core.tables
import urbangrid.evaluation.rollup_tables  # noqa: F401
from urbangrid.core.db import get_engine, make_engine

config = context.config
target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=False,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    engine = make_engine(url) if url else get_engine()
    with engine.connect() as conn:
        _run(conn)
    if url:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("urbangrid migrations run online only: `urbangrid db upgrade`")
run_migrations_online()
