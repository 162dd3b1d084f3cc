"""The evaluation per role reads stage clocks by the period their deadline or stop falls in.

Revision ID: 0008_step_clocks
Revises: 0007_rollups
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0008_step_clocks"
down_revision = "0007_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_sla_clock_deadline_at", "sla_clock", ["deadline_at"])
    op.create_index("ix_sla_clock_stopped_at", "sla_clock", ["stopped_at"])


def downgrade() -> None:
    op.drop_index("ix_sla_clock_stopped_at", table_name="sla_clock")
    op.drop_index("ix_sla_clock_deadline_at", table_name="sla_clock")
