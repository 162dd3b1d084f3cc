"""The evaluation per role: who stopped each stage clock, and clocks read by period.

Stopped clocks are credited to the event that stopped them (``cases.clocks.credit_stops``).

Revision ID: 0008_step_clocks
Revises: 0007_rollups
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_step_clocks"
down_revision = "0007_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from urbangrid.cases.clocks import credit_stops

    with op.batch_alter_table("sla_clock") as batch:
        batch.add_column(sa.Column("stopped_by", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("stopped_role", sa.String(length=32), nullable=True))
    credit_stops(op.get_bind())
    op.create_index("ix_sla_clock_deadline_at", "sla_clock", ["deadline_at"])
    op.create_index("ix_sla_clock_stopped_at", "sla_clock", ["stopped_at"])


def downgrade() -> None:
    op.drop_index("ix_sla_clock_stopped_at", table_name="sla_clock")
    op.drop_index("ix_sla_clock_deadline_at", table_name="sla_clock")
    with op.batch_alter_table("sla_clock") as batch:
        batch.drop_column("stopped_role")
        batch.drop_column("stopped_by")
