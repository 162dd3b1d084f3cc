"""Foundation: grid versions and areas, departments, categories, routing rules, cases, events.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from urbangrid.core.columns import UTCDateTime
from urbangrid.core.spatial import Geometry

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")

    op.create_table(
        "grid_version",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_grid_version_is_active", "grid_version", ["is_active"])

    op.create_table(
        "grid_area",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "version_id",
            sa.Integer,
            sa.ForeignKey("grid_version.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("parent_code", sa.String(32)),
        sa.Column("source_id", sa.String(64)),
        sa.Column("geom", Geometry("MULTIPOLYGON"), nullable=False),
        sa.UniqueConstraint("version_id", "code", name="uq_grid_area_version_code"),
    )
    op.create_index("ix_grid_area_version_level", "grid_area", ["version_id", "level"])
    if postgres:
        op.create_index("ix_grid_area_geom", "grid_area", ["geom"], postgresql_using="gist")

    op.create_table(
        "department",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("grid_code", sa.String(32)),
    )
    op.create_index("ix_department_kind", "department", ["kind"])
    op.create_index("ix_department_grid_code", "department", ["grid_code"])

    op.create_table(
        "category",
        sa.Column("code", sa.String(16), primary_key=True),
        sa.Column("name_zh", sa.String(100), nullable=False),
        sa.Column("name_en", sa.String(100), nullable=False),
        sa.Column("family", sa.String(16), nullable=False),
        sa.Column("major", sa.String(2), nullable=False),
        sa.Column("minor", sa.String(2), nullable=False),
        sa.Column("department_kind", sa.String(64), nullable=False),
        sa.Column("time_limit", sa.String(16), nullable=False),
        sa.Column("needs_verification", sa.Boolean, nullable=False, server_default=sa.false()),
    )

    op.create_table(
        "routing_rule",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("category_code", sa.String(16), sa.ForeignKey("category.code"), nullable=False),
        sa.Column("scope_code", sa.String(32), nullable=False, server_default=""),
        sa.Column(
            "department_code", sa.String(64), sa.ForeignKey("department.code"), nullable=False
        ),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_routing_rule_category", "routing_rule", ["category_code"])

    op.create_table(
        "cases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tracking_token", sa.String(64), nullable=False, unique=True),
        sa.Column("category_code", sa.String(16), sa.ForeignKey("category.code"), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("input_crs", sa.String(8), nullable=False),
        sa.Column("input_lat", sa.Float, nullable=False),
        sa.Column("input_lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("location", Geometry("POINT")),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("grid_version_id", sa.Integer, sa.ForeignKey("grid_version.id")),
        sa.Column("l1_code", sa.String(32)),
        sa.Column("l2_code", sa.String(32)),
        sa.Column("l3_code", sa.String(32)),
        sa.Column("l4_code", sa.String(32)),
        sa.Column("department_code", sa.String(64), sa.ForeignKey("department.code")),
        sa.Column("routing_rule_id", sa.Integer),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deadline_at", UTCDateTime()),
        sa.Column("routed_at", UTCDateTime()),
        sa.Column("published_at", UTCDateTime()),
        sa.Column("publish_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("filed_at", UTCDateTime()),
        sa.Column("dispatched_at", UTCDateTime()),
        sa.Column("handled_at", UTCDateTime()),
        sa.Column("closed_at", UTCDateTime()),
        sa.Column("rework_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("return_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("extension_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reopen_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("escalation_level", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_cases_category_code", "cases", ["category_code"])
    op.create_index("ix_cases_l1_code", "cases", ["l1_code"])
    op.create_index("ix_cases_l2_code", "cases", ["l2_code"])
    op.create_index("ix_cases_department_code", "cases", ["department_code"])
    op.create_index("ix_cases_created_at", "cases", ["created_at"])
    op.create_index("ix_cases_unrouted", "cases", ["state", "published_at"])
    op.create_index("ix_cases_state_deadline", "cases", ["state", "deadline_at"])
    if postgres:
        op.create_index("ix_cases_location", "cases", ["location"], postgresql_using="gist")

    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(16)),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
    )
    op.create_index("ix_case_events_case", "case_events", ["case_id", "id"])


def downgrade() -> None:
    for table in (
        "case_events",
        "cases",
        "routing_rule",
        "category",
        "department",
        "grid_area",
        "grid_version",
    ):
        op.drop_table(table)
