"""Summaries per base cell and per department of months, quarters, years and rolling windows.

The city-wide table of base cells and a department's year read one row per group instead of
counting every case their period touches. Empty until the next refresh: run ``urbangrid
metrics refresh`` (or let the scheduler's next refresh build them); until then those tables are
counted from the facts and rollups as before.

Revision ID: 0009_summaries
Revises: 0008_step_clocks
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_summaries"
down_revision = "0008_step_clocks"
branch_labels = None
depends_on = None

COUNTS = (
    "received",
    "filed",
    "extended",
    "due",
    "closed",
    "closed_on_time",
    "overdue",
    "handling_due",
    "handled_on_time",
    "handled",
    "reworked",
    "reopened",
    "handling_timed",
)
EVENTS = ("dispatches", "returns", "ratings", *(f"satisfied_{score}" for score in range(1, 6)))


def upgrade() -> None:
    op.create_table(
        "metric_summaries",
        sa.Column("first_day", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("end_day", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("grouping", sa.String(16), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        *(sa.Column(name, sa.Integer, nullable=False) for name in COUNTS),
        sa.Column("handling_seconds", sa.Float, nullable=False),
        *(sa.Column(name, sa.Integer, nullable=False) for name in EVENTS),
    )
    op.create_table(
        "metric_summary_periods",
        sa.Column("first_day", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("end_day", sa.Integer, primary_key=True, autoincrement=False),
    )


def downgrade() -> None:
    op.drop_table("metric_summary_periods")
    op.drop_table("metric_summaries")
