"""Photos' faces and plates: what the detector found, which detector, and when.

The public copy blurs each detection; a later detector re-runs over the stored copies of the
photos whose ``detector`` is another version (``urbangrid photos reblur``).

Revision ID: 0014_photo_blur
Revises: 0013_reference_version
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from urbangrid.core.columns import UTCDateTime

revision = "0014_photo_blur"
down_revision = "0013_reference_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): SQLite keeps the tables' triggers that way.
    op.add_column("photo", sa.Column("detections", sa.Text(), nullable=False, server_default="[]"))
    op.add_column("photo", sa.Column("detector", sa.String(64), nullable=True))
    op.add_column("photo", sa.Column("detected_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("photo", "detected_at")
    op.drop_column("photo", "detector")
    op.drop_column("photo", "detections")
