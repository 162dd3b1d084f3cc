"""Metrics: who held a case at each event, and indexes for counting by period.

Every event now records the department answerable for the case when it happened, so a return
counts against the department that returned the case, not the one it went to next. The
indexes serve the period filters of the evaluation (deadline, closure, handling and filing in
a period; events of an action in a period) so that they read a period instead of the table.

Revision ID: 0005_metrics
Revises: 0004_workflow
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_metrics"
down_revision = "0004_workflow"
branch_labels = None
depends_on = None

CASE_INDEXES = {
    "ix_cases_case_deadline_at": ["case_deadline_at"],
    "ix_cases_deadline_at": ["deadline_at"],
    "ix_cases_closed_at": ["closed_at"],
    "ix_cases_handled_at": ["handled_at"],
    "ix_cases_filed_at": ["filed_at"],
}


def upgrade() -> None:
    with op.batch_alter_table("case_events") as batch:
        batch.add_column(sa.Column("department_code", sa.String(64), nullable=True))
    # Events recorded before this revision take the case's current department: exact for every
    # event but those before a return and re-dispatch, which no earlier schema kept.
    op.execute(
        "UPDATE case_events SET department_code = "
        "(SELECT cases.department_code FROM cases WHERE cases.id = case_events.case_id)"
    )
    op.create_index("ix_case_events_action_at", "case_events", ["action", "at", "department_code"])
    for name, columns in CASE_INDEXES.items():
        op.create_index(name, "cases", columns)


def downgrade() -> None:
    for name in CASE_INDEXES:
        op.drop_index(name, table_name="cases")
    op.drop_index("ix_case_events_action_at", table_name="case_events")
    with op.batch_alter_table("case_events") as batch:
        batch.drop_column("department_code")
