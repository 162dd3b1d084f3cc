"""Per-cell summaries of months, quarters, years and rolling windows, kept by the refresher.

The city-wide table of base cells reads one row per cell instead of counting every case its
period touches. Empty until the next refresh: run ``urbangrid metrics refresh`` (or let the
scheduler's next refresh build them); until then that table is counted from the facts as before.

Revision ID: 0009_cell_summaries
Revises: 0008_step_clocks
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_cell_summaries"
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
        "metric_cell_summaries",
        sa.Column("first_day", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("end_day", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("l4_code", sa.String(32), primary_key=True),
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
    op.drop_table("metric_cell_summaries")
