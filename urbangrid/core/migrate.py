"""Bring a database to the newest schema with Alembic (`urbangrid db upgrade`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

# The migrations stay at urbangrid/migrations, where packaging and Alembic expect them.
MIGRATIONS = Path(__file__).parents[1] / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str | None = None) -> None:
    """Apply every pending migration (all branch heads) to ``url`` or the configured database."""
    command.upgrade(alembic_config(url), "heads")
