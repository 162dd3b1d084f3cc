"""One line of history again: intake (0003) and workflow with metrics (0004, 0005) joined.

Revision ID: 0006_merge
Revises: 0003_intake, 0005_metrics
Create Date: 2026-11-21
"""

from __future__ import annotations

revision = "0006_merge"
down_revision = ("0003_intake", "0005_metrics")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
