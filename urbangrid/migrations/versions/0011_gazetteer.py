"""The gazetteer: the city's address points, for reports located by address_string/address_id.

Revision ID: 0011_gazetteer
Revises: 0010_step_rollups
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from urbangrid.columns import UTCDateTime

revision = "0011_gazetteer"
down_revision = "0010_step_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "address_points",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ref", sa.String(100), nullable=False, unique=True),
        sa.Column("address", sa.String(500), nullable=False),
        sa.Column("key", sa.String(500), nullable=False, unique=True),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("input_crs", sa.String(8), nullable=False, server_default="wgs84"),
        sa.Column("extra", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
    )
    # Each API process asks every few seconds whether an import changed the list: the newest
    # import time, read from this index, answers without counting the points.
    op.create_index("ix_address_points_imported_at", "address_points", ["imported_at"])


def downgrade() -> None:
    op.drop_table("address_points")
