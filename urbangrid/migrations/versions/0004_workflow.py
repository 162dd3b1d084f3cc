"""Workflow: SLA clocks, stage limits, calendar overrides, staff accounts and tokens.

Revision ID: 0004_workflow
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from urbangrid.core.columns import UTCDateTime

revision = "0004_workflow"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("stage", sa.String(16)))
        batch.add_column(sa.Column("stage_deadline_at", UTCDateTime()))
        batch.add_column(sa.Column("case_deadline_at", UTCDateTime()))
        batch.add_column(sa.Column("escalated_to", sa.String(32)))
        batch.add_column(sa.Column("flag", sa.String(32)))
        batch.add_column(sa.Column("pending_request", sa.String(16)))
    op.create_index("ix_cases_escalated_to", "cases", ["escalated_to"])

    with op.batch_alter_table("category") as batch:
        # Existing rows get the starter taxonomy's stage limits until it is loaded again.
        batch.add_column(
            sa.Column("file_limit", sa.String(16), nullable=False, server_default="1wh")
        )
        batch.add_column(
            sa.Column("dispatch_limit", sa.String(16), nullable=False, server_default="1wh")
        )
        batch.add_column(
            sa.Column("check_limit", sa.String(16), nullable=False, server_default="1wd")
        )
        batch.add_column(sa.Column("case_limit", sa.String(64), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("auto_dispatch", sa.Boolean, nullable=False, server_default=sa.true())
        )

    op.create_table(
        "sla_clock",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("limit", sa.String(64), nullable=False),
        sa.Column("extended", sa.String(200), nullable=False, server_default=""),
        sa.Column("paused_s", sa.Float, nullable=False, server_default="0"),
        sa.Column("paused_at", UTCDateTime()),
        sa.Column("stopped_at", UTCDateTime()),
        sa.Column("step", sa.Integer, nullable=False, server_default="0"),
        sa.Column("deadline_at", UTCDateTime(), nullable=False),
        sa.Column("warn_at", UTCDateTime(), nullable=False),
        sa.Column("next_at", UTCDateTime()),
        sa.Column("leased_until", UTCDateTime()),
    )
    op.create_index("ix_sla_clock_next_at", "sla_clock", ["next_at"])
    op.create_index("ix_sla_clock_case", "sla_clock", ["case_id", "stage"])

    op.create_table(
        "calendar_day",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("is_workday", sa.Boolean, nullable=False),
        sa.Column("note", sa.String(200), nullable=False, server_default=""),
        sa.Column("entered_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "calendar_year",
        sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("note", sa.String(200), nullable=False, server_default=""),
        sa.Column("entered_at", UTCDateTime(), nullable=False),
    )

    op.create_table(
        "staff",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("scope", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.String(255)),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "staff_token",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "staff_id", sa.Integer, sa.ForeignKey("staff.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("label", sa.String(100), nullable=False, server_default=""),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime()),
        sa.Column("revoked_at", UTCDateTime()),
    )
    op.create_index("ix_staff_token_staff_id", "staff_token", ["staff_id"])


def downgrade() -> None:
    for table in ("staff_token", "staff", "calendar_year", "calendar_day", "sla_clock"):
        op.drop_table(table)
    with op.batch_alter_table("category") as batch:
        for column in (
            "auto_dispatch",
            "case_limit",
            "check_limit",
            "dispatch_limit",
            "file_limit",
        ):
            batch.drop_column(column)
    op.drop_index("ix_cases_escalated_to", "cases")
    with op.batch_alter_table("cases") as batch:
        for column in (
            "pending_request",
            "flag",
            "escalated_to",
            "case_deadline_at",
            "stage_deadline_at",
            "stage",
        ):
            batch.drop_column(column)
