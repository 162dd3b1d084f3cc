"""The staff loop: photos' public copies and redactions, reports near a street's boundary.

A photo's public copy is its stored copy with the moderators' rectangles covered; while nothing
is covered it is the stored copy itself (``public_digest`` empty). A case routed within the
boundary margin of its street names the neighbouring street until a dispatcher confirms the
street or moves the case there.

Revision ID: 0012_staff_loop
Revises: 0011_gazetteer
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_staff_loop"
down_revision = "0011_gazetteer"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): SQLite keeps the tables' triggers that way.
    op.add_column("photo", sa.Column("public_digest", sa.String(64), nullable=True))
    op.add_column("photo", sa.Column("redactions", sa.Text(), nullable=False, server_default="[]"))
    op.create_index("ix_photo_public_digest", "photo", ["public_digest"])
    op.add_column("cases", sa.Column("near_boundary", sa.String(32), nullable=True))


def downgrade() -> None:
    op.drop_column("cases", "near_boundary")
    op.drop_index("ix_photo_public_digest", table_name="photo")
    op.drop_column("photo", "redactions")
    op.drop_column("photo", "public_digest")
